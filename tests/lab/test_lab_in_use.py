"""Two runs on one lab: the second is refused at once, with the reason (it would have shared the
target's port and agent, and its verdicts would have been the first's doing)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tcpconform.lab.lab import lab_in_use
from tcpconform.lab.netns import LabError


def test_a_held_lab_refuses_a_second_run_and_is_free_once_released() -> None:
    with lab_in_use("tcpc-test-77"):
        with pytest.raises(LabError, match="in use by another run"), lab_in_use("tcpc-test-77"):
            pass
        with lab_in_use("tcpc-test-78"):  # another lab is another lock
            pass
    with lab_in_use("tcpc-test-77"):
        pass


def test_the_hold_dies_with_its_process() -> None:
    holder = subprocess.Popen([sys.executable, "-c", "import time, tcpconform.lab.lab as l\n"
                               "with l.lab_in_use('tcpc-test-79'):\n print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LabError), lab_in_use("tcpc-test-79"):
            pass
    finally:
        holder.kill()
        holder.wait()
    with lab_in_use("tcpc-test-79"):
        pass
