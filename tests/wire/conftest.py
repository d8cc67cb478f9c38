"""Fixtures for tests on real links: the lab's namespaces, the real Linux TCP, the responder on the wire.

These tests need root (raw sockets, namespaces, nftables); without it they are skipped, with the
reason.  Each uses its own lab name so it never meets another run's lab, and every test ends by
checking that nothing of ours is left behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root (raw sockets, network namespaces, nftables)"
    if shutil.which("ip") is None:
        return "needs iproute2 ('ip'): sh scripts/install-system-packages"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"network namespaces unavailable: {probe.stderr.strip()}"
    return None


REASON = _why_not()
needs_root = pytest.mark.skipif(REASON is not None, reason=REASON or "")

LAB = "3"
"""The lab these tests use (the others' tests use other names)."""


def ours() -> dict[str, list[str]]:
    from tcpconform.cleanup import leftovers

    return {k: [v for v in vs if f"tcpc{LAB}" in v or "tcpc-wire" in v] for k, vs in leftovers().items()}


@pytest.fixture(scope="module")
def lab() -> Iterator[object]:
    from tcpconform.lab import lab_down, lab_up

    made = lab_up(LAB)
    try:
        yield made
    finally:
        lab_down(LAB)
