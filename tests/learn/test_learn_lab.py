"""``learn --lab linux`` takes Linux's invalid-segment rate limit out while it learns, and puts it back."""

from __future__ import annotations

import subprocess

import pytest
from support.lab import skip_reason, worker_lab

from tcpconform.lab.lab import lab_down, lab_up
from tcpconform.lab.netns import ns_argv
from tcpconform.learn.command import RATE_LIMIT, rate_limit_off

LAB = worker_lab(5)


def _value(ns: str) -> str:
    return subprocess.run(ns_argv(ns, ["cat", f"/proc/sys/{RATE_LIMIT}"]), capture_output=True, text=True,
                          check=True).stdout.strip()


def test_the_rate_limit_is_off_while_learning_and_back_after() -> None:
    if skip_reason() is not None:
        pytest.skip(skip_reason())
    lab = lab_up(LAB)
    try:
        before = _value(lab.target_ns)
        assert before != "0"  # the kernel's default: 500 (ms)
        with rate_limit_off(LAB):
            assert _value(lab.target_ns) == "0"
        assert _value(lab.target_ns) == before
        with pytest.raises(RuntimeError), rate_limit_off(LAB):
            raise RuntimeError("the learning failed")
        assert _value(lab.target_ns) == before
    finally:
        lab_down(LAB)
