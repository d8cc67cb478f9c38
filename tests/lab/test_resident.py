"""A lab's resident tester, on a real lab: ``lab up`` starts it, a ``tcpconform run --lab`` is handed
to it (verdict, exit status and reports as a run of its own would give), Ctrl-C and ``kill -9`` of
the command end the run with its clean-up, a changed package file makes it step aside and start
anew, and ``lab down`` leaves nothing of it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.lab import LAB8, needs_root

import tcpconform
from tcpconform.errors import SetupError
from tcpconform.lab import resident
from tcpconform.lab.lab import lab_down, lab_in_use
from tcpconform.lab.leftovers import leftovers
from tcpconform.launch import forward

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
LONG_CASE = "giveup-zero-window-minutes"
"""A case of minutes: still running when the test interrupts it."""


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tcpconform.launch", *args]


def _wait_until(test: Callable[[], bool], what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not test():
        assert time.monotonic() < deadline, f"not within {within:g} s: {what}"
        time.sleep(0.05)


def _answers() -> bool:
    sock = resident.connect(LAB8)
    if sock is None:
        return False
    sock.close()
    return True


def _in_use() -> bool:
    try:
        with lab_in_use(LAB8):
            return False
    except SetupError:
        return True


@pytest.fixture(scope="module")
def lab_up() -> Iterator[None]:
    """Lab 8 brought up as a user does (``tcpconform lab up``), its resident tester serving."""
    out = subprocess.run(_command("lab", "up", LAB8), env=ENV, capture_output=True, text=True, timeout=120)
    try:
        assert out.returncode == 0, out.stderr
        assert f"lab {LAB8}: resident tester started in tcpc{LAB8}-tester" in out.stdout
        _wait_until(_answers, "the resident tester serves")
        yield
    finally:
        lab_down(LAB8)


def _results(folder: Path) -> dict[str, str]:
    data = json.loads((folder / "results.json").read_text())
    return {c["id"]: c["verdict"] for c in data["cases"]}


@needs_root
def test_a_run_is_handed_to_the_resident_tester_and_judged_as_its_own(lab_up: None, tmp_path: Path) -> None:
    # forward() returns an exit status only for a run the resident tester ran (None: run it here).
    clean = forward(["run", "--lab", "reference", "--lab-name", LAB8, "seed-full-sequence", "-q",
                     "--report-dir", str(tmp_path / "clean")])
    faulty = forward(["run", "--lab", "reference", "--lab-name", LAB8, "--fault", "bad-syn-ack",
                      "seed-full-sequence", "-q", "--report-dir", str(tmp_path / "faulty")])
    unknown = forward(["run", "--lab", "reference", "--lab-name", LAB8, "no-such-case"])
    assert (clean, faulty, unknown) == (0, 1, 2)
    assert _results(tmp_path / "clean") == {"seed-full-sequence": "pass"}
    assert _results(tmp_path / "faulty") == {"seed-full-sequence": "fail"}
    # The same through the command as a user types it, output on its own streams, from its own directory.
    out = subprocess.run(_command("run", "--lab", "linux", "--lab-name", LAB8, "seed-full-sequence", "--report-dir",
                                  "here"), env=ENV, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "1 passed, 0 failed" in out.stdout
    assert _results(tmp_path / "here") == {"seed-full-sequence": "pass"}
    # Each run took the packet socket the resident tester opened for it, which it closes after the
    # run's end; what stays open is the one for the next run: none leaks, run after run.
    _wait_until(lambda: _packet_sockets() == 1, "one packet socket in the tester's namespace: the next run's")


def _packet_sockets() -> int:
    """The packet sockets open in lab 8's tester namespace (``/proc/net/packet`` read there)."""
    out = subprocess.run(["ip", "netns", "exec", f"tcpc{LAB8}-tester", "cat", "/proc/net/packet"], capture_output=True,
                         text=True, check=True).stdout
    return len(out.splitlines()) - 1


@needs_root
def test_no_handing_over_where_it_is_switched_off_or_not_a_lab_run(lab_up: None, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    assert forward(["list"]) is None
    assert forward(["run", "seed-full-sequence"]) is None  # in-process: nothing to gain
    monkeypatch.setenv("TCPCONFORM_RESIDENT", "off")
    assert forward(["run", "--lab", "reference", "--lab-name", LAB8, "seed-full-sequence"]) is None


@needs_root
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_or_killed_command_ends_its_run_with_the_run_s_clean_up(
        lab_up: None, tmp_path: Path, sig: signal.Signals) -> None:
    client = subprocess.Popen(_command("run", "--lab", "linux", "--lab-name", LAB8, LONG_CASE, "--report-dir",
                                       str(tmp_path)), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_until(_in_use, "the run holds the lab")
        client.send_signal(sig)
        _, err = client.communicate(timeout=60)
        # Ctrl-C: the run's own exit status for an interrupt; kill -9: the command is gone at once.
        assert client.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL), err
        if sig == signal.SIGINT:
            assert "interrupted" in err
        _wait_until(lambda: not _in_use(), "the run ends and frees the lab")
        assert leftovers(prefixes=[f"tcpc{LAB8}-"])["nft_tables"] == []  # the run's RST suppression went with it
    finally:
        if client.poll() is None:
            client.kill()
            client.wait(10)


@needs_root
def test_a_changed_package_file_makes_it_step_aside_and_start_anew(lab_up: None, tmp_path: Path) -> None:
    marker = Path(tcpconform.__file__).with_name("py.typed")
    before = marker.stat()
    args = ["run", "--lab", "reference", "--lab-name", LAB8, "seed-full-sequence", "-q", "--report-dir", str(tmp_path)]
    try:
        os.utime(marker, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        assert forward(args) is None  # stale: this process would run it itself
    finally:
        os.utime(marker, ns=(before.st_atime_ns, before.st_mtime_ns))
    _wait_until(_answers, "the resident tester serves again")
    _wait_until(lambda: forward(args) == 0, "a run is handed over again")


@needs_root
def test_lab_down_stops_it(tmp_path: Path) -> None:
    out = subprocess.run(_command("lab", "up", LAB8), env=ENV, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    _wait_until(_answers, "the resident tester serves")
    assert lab_down(LAB8)
    assert not _answers()
    left = leftovers(prefixes=[f"tcpc{LAB8}-"])
    assert not any(left.values()), left
