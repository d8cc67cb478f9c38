"""Fixtures of the lab tests, and the check that they leave nothing behind."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from support.lab import LAB7, LAB8, TEST_LABS, skip_reason

from tcpconform.lab.lab import temporary_lab
from tcpconform.lab.leftovers import cleanup, format_report, leftovers
from tcpconform.lab.spec import Lab


def created_prefixes() -> list[str]:
    """What these tests may create: their labs, and firewall tables named after this process."""
    return [f"tcpc{n}-" for n in TEST_LABS] + [f"tcpc_{os.getpid()}_"]


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind() -> Iterator[None]:
    """Start from a clean slate (a crashed earlier run) and fail the session if any test left something."""
    if skip_reason() is not None:
        yield
        return
    cleanup(prefixes=created_prefixes())
    yield
    left = leftovers(prefixes=created_prefixes())
    if any(left.values()):
        cleanup(prefixes=created_prefixes())
        pytest.fail(f"the lab tests left behind:\n{format_report(left)}")


@pytest.fixture(scope="module")
def lab7() -> Iterator[Lab]:
    """Lab 7 (of this worker), shared by a module's tests (setting a lab up costs ~0.1 s)."""
    with temporary_lab(LAB7) as lab:
        yield lab


@pytest.fixture
def host_mode_lab() -> Iterator[Lab]:
    """Lab 8 with an address on the tester side, as a user's plain interface has: its kernel answers."""
    with temporary_lab(LAB8) as lab:
        subprocess.run(["ip", "-n", lab.tester_ns, "addr", "add", f"{lab.tester_ip}/{lab.prefixlen}", "dev", lab.tester_if],
                       check=True)
        yield lab
