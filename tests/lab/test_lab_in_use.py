"""Two runs on one lab: the second is refused at once, with the reason (it would have shared the
target's port and agent, and its verdicts would have been the first's doing)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.lab import LAB9, skip_reason

from tcpconform.lab.lab import lab_in_use
from tcpconform.lab.netns import LabError
from tcpconform.lab.spec import lab_spec


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


@pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0, reason="needs root and unshare")
def test_a_hold_from_another_network_namespace_is_a_hold() -> None:
    # a run handed to a lab's resident tester holds the lab from inside the tester's namespace
    holder = subprocess.Popen(["unshare", "--net", sys.executable, "-c", "import time, tcpconform.lab.lab as l\n"
                               "with l.lab_in_use('tcpc-test-80'):\n print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LabError, match="in use by another run"), lab_in_use("tcpc-test-80"):
            pass
    finally:
        holder.kill()
        holder.wait()
    with lab_in_use("tcpc-test-80"):
        pass


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tcpconform.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_a_lab_a_killed_run_left_is_named_and_made_afresh_not_adopted(tmp_path: Path) -> None:
    if skip_reason() is not None:
        pytest.skip(skip_reason())
    from tcpconform.lab.lab import find_lab, lab_down
    from tcpconform.lab.owner import made_for

    lab = lab_spec(LAB9)
    run = subprocess.Popen([sys.executable, "-m", "tcpconform.cli", "run", "--lab", "linux", "--lab-name", LAB9,
                            "-q", "--quick", "--report-dir", str(tmp_path / "killed")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while made_for(lab) is None or not (tmp_path / "killed" / "results.json").exists():
            # the lab is up and marked as the run's, and the run has begun its cases
            assert time.monotonic() < deadline and run.poll() is None, "the run never made its lab"
            time.sleep(0.05)
        maker = made_for(lab)
        assert maker is not None and maker.pid == run.pid and maker.alive
        refused = _cli("run", "--lab", "linux", "--lab-name", LAB9, "seed-handshake", "--report-dir", str(tmp_path / "b"))
        assert refused.returncode == 2 and "in use by another run" in refused.stderr
    finally:
        run.kill()
        run.wait()
    try:
        assert find_lab(LAB9) is not None  # SIGKILL: nothing could remove it
        status = _cli("lab", "status")
        assert f"lab {LAB9} was left behind by a run that was killed (pid {run.pid})" in status.stdout
        again = _cli("run", "--lab", "linux", "--lab-name", LAB9, "seed-handshake", "-q", "--report-dir", str(tmp_path / "c"))
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"left behind by a run that was killed (pid {run.pid}): removed, and made afresh" in again.stderr
        meta = json.loads((tmp_path / "c" / "results.json").read_text())["run"]
        assert meta["lab_created_for_run"] is True
        assert find_lab(LAB9) is None  # made for that run, so removed when it ended
        killed = json.loads((tmp_path / "killed" / "results.json").read_text())["run"]
        assert killed["state"] == "running"
    finally:
        lab_down(LAB9)
