"""The lab fixture of the tests on real links (the rest is in :mod:`wirekit`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from wirekit import LAB


@pytest.fixture(scope="module")
def lab() -> Iterator[object]:
    from tcpconform.lab import lab_down, lab_up

    made = lab_up(LAB)
    try:
        yield made
    finally:
        lab_down(LAB)
