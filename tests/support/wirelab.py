"""Shared by the tests on real links: the lab's namespaces, the real Linux TCP, the responder on the wire.

These tests need root (raw sockets, namespaces, nftables); without it they are skipped, with the
reason.  They use their own lab name, so they never meet another run's lab; the suite-wide guard in
``tests/conftest.py`` checks that nothing is left behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from support.lab import worker_lab


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

LAB = os.environ.get("TCPC_TEST_LAB", worker_lab(3))
"""The lab these tests use (the others' tests use other names, and each pytest-xdist worker its own);
``TCPC_TEST_LAB`` picks another, so two checkouts can run their wire tests side by side."""



@pytest.fixture(scope="module")
def lab() -> Iterator[object]:
    """The tests' lab, brought up for one test module and removed after it."""
    from tcpconform.lab.lab import lab_down, lab_up

    made = lab_up(LAB)
    try:
        yield made
    finally:
        lab_down(LAB)
