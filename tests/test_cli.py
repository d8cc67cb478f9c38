"""The command line end to end, as a user drives it: click's runner, and real subprocesses."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcpconform.cli import main

REPO = Path(__file__).resolve().parent.parent


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_help_and_list_do_not_import_scapy_or_the_engine() -> None:
    probe = (
        "import sys\n"
        "from tcpconform.cli import main\n"
        "for argv in (['--help'], ['list']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] == 'scapy' or m == 'tcpconform.engine'))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert "LOADED []" in out
    assert "seed-handshake" in out


def test_list_groups_by_area_with_rfc_references() -> None:
    code, out = invoke("list")
    assert code == 0
    assert "seed:" in out and "data:" in out
    assert "seed-teardown" in out and "RFC 9293 3.10.4" in out
    assert "SHOULD" in out  # seed-delayed-ack


def test_run_passes_every_bundled_case_and_writes_results(tmp_path: Path) -> None:
    code, out = invoke("run", "--report-dir", str(tmp_path))
    assert code == 0, out
    assert "0 failed" in out and "FAIL" not in out
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["schema"] == "tcpconform-results/1"
    assert data["run"]["profile"] == "reference" and data["run"]["link"] == "in-process"
    ids = {c["id"] for c in data["cases"]}
    assert {"seed-handshake", "seed-full-sequence", "seed-teardown"} <= ids
    full = next(c for c in data["cases"] if c["id"] == "seed-full-sequence")
    assert full["verdict"] == "pass"
    states = [e["new"] for e in full["target_events"] if e["kind"] == "state"]
    for state in ("SYN_RCVD", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED"):
        assert state in states
    wire = [s["summary"] for s in full["segments"]]
    assert "S. 100:100(0) ack 1 win 65535" in wire
    assert ". 101:101(0) ack 1025 win 64511" in wire or any(w.startswith(". 101:101(0) ack 1025") for w in wire)


def test_a_fault_fails_the_case_with_everything_needed_to_debug_it(tmp_path: Path) -> None:
    code, out = invoke("run", "seed-teardown", "--fault", "fin-without-app", "--report-dir", str(tmp_path))
    assert code == 1
    assert "FAIL" in out and "seed-teardown" in out
    assert "testcases/seed/06-teardown.yaml:" in out  # the step's file:line
    assert "RFC 9293" in out and "(MUST)" in out  # the clause and its level
    assert "field" in out and "expected" in out and "actual" in out  # the mismatch table
    assert "flags" in out and "F." in out
    assert "exchange:" in out and "-->" in out and "<--" in out
    data = json.loads((tmp_path / "results.json").read_text())
    case = data["cases"][0]
    assert case["verdict"] == "fail" and case["failed_level"] == "MUST"
    step = next(s for s in case["steps"] if s["verdict"] == "fail")
    assert step["mismatches"] and step["observed"]


@pytest.mark.parametrize("args, message", [
    (["run", "--fault", "no-such-fault"], "unknown fault 'no-such-fault'"),
    (["run", "no-such-case"], "no test case matches"),
    (["run", "--profile", "nope"], "unknown profile"),
    (["run", "--cases", "/nonexistent/dir"], "no such file or folder"),
    (["run", "--target", "198.18.0.2", "--service", "ftp=21"], "unknown service 'ftp'"),
    (["run", "--target", "198.18.0.2", "--service", "echo=7", "--service", "discard=7"], "two services on port 7"),
    (["run", "--service", "echo=x"], "'x' is not a port number"),
    (["run", "--lab", "linux", "--service", "echo"], "--service goes with --target, or alone"),
])
def test_usage_errors_exit_2_with_a_clear_message(args: list[str], message: str, tmp_path: Path) -> None:
    code, out = invoke(*args, "--report-dir", str(tmp_path))
    assert code == 2
    assert message in out
    assert "Traceback" not in out


def test_a_malformed_case_file_is_named_with_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: bad-case\ntitle: t\nrequirements: [{id: r, ref: RFC 9293 3.5, level: MUST}]\n"
        "no_fault: x\nsteps:\n  - send: \"S 0:0(0) widnow 5000\"\n"
    )
    code, out = invoke("run", "--cases", str(bad), "--report-dir", str(tmp_path))
    assert code == 2
    assert f"{bad}:6:" in out and "steps[0].send" in out
    assert "Traceback" not in out


def test_unwritable_report_dir_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, out = invoke("run", "seed-handshake", "--report-dir", str(blocker / "sub"))
    assert code == 2 and "cannot write results" in out
    assert "seed-handshake" not in out  # said before the run, not after it


def test_the_report_dir_is_checked_before_the_run() -> None:
    import tcpconform.run as run_module
    from tcpconform.errors import UsageError

    with pytest.raises(UsageError, match="cannot write results to /proc/1/tcpc: "):
        run_module.check_report_dir(Path("/proc/1/tcpc"))


SELFTEST_SHARDS = 4
"""The whole selftest, its faults dealt into this many runs (each with the clean run), so the tests'
workers share it."""


@pytest.mark.parametrize("shard", range(SELFTEST_SHARDS))
def test_selftest_shows_every_fault_caught(shard: int) -> None:
    from tcpconform.responder.faults import FAULTS

    faults = sorted(FAULTS)[shard::SELFTEST_SHARDS]
    code, out = invoke("selftest", *[arg for f in faults for arg in ("--fault", f)])
    assert code == 0, out
    assert "selftest OK" in out
    assert re.search(r"\b(\d+)/\1 faults detected", out), out  # (a fault that shows over IPv6 only is left out)


def test_selftest_fails_when_a_fault_goes_undetected(tmp_path: Path) -> None:
    # Only the handshake case: faults about teardown cannot be caught by it.
    code, out = invoke("selftest", "seed-handshake", "--fault", "ignore-fin")
    assert code == 1
    assert "fault ignore-fin: no case detects it" in out


def test_the_installed_console_script_runs_the_main_job(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "tcpconform.cli", "run", "-q", "--report-dir", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "passed" in proc.stdout


def test_several_services_in_process_each_case_on_one_that_fits(tmp_path: Path) -> None:
    code, out = invoke("run", "--service", "echo=7", "--service", "daytime=13", "seed-handshake",
                       "teardown-active-close", "seed-window", "--report-dir", str(tmp_path))
    assert code == 0, out
    cases = json.loads((tmp_path / "results.json").read_text())["cases"]
    ports = {c["id"]: c["connection"]["target"].rsplit(":", 1)[1] for c in cases}
    assert ports == {"seed-handshake": "7", "teardown-active-close": "13", "seed-window": "7"}


@pytest.mark.parametrize("raised, code, said", [
    (KeyboardInterrupt(), 130, "interrupted"),
    (RuntimeError("a bug"), 3, "internal error of tcpconform (exit 3)"),
])
def test_the_command_exits_with_a_code_that_says_whose_it_is(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str],
                                                             raised: BaseException, code: int, said: str) -> None:
    import tcpconform.cli as cli

    def boom(**kwargs: object) -> None:
        raise raised

    monkeypatch.setattr(cli, "main", boom)
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # entry() ignores Ctrl-C once done: not here
    with pytest.raises(SystemExit) as done:
        cli.entry()
    assert done.value.code == code
    assert said in capsys.readouterr().err


def test_a_ctrl_c_after_the_outcome_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the command has written its outcome and chosen its exit code, only the removal of what
    it made is left: a Ctrl-C then would break that halfway and print a traceback over a finished run."""
    import tcpconform.cli as cli

    set_to: list[object] = []
    monkeypatch.setattr(cli, "main", lambda **kwargs: sys.exit(1))
    monkeypatch.setattr(signal, "signal", lambda sig, how: set_to.append((sig, how)))
    with pytest.raises(SystemExit) as done:
        cli.entry()
    assert done.value.code == 1
    assert set_to[-1] == (signal.SIGINT, signal.SIG_IGN)  # after the handler that notes a Ctrl-C


def test_the_installed_command_keeps_the_gates_codes(tmp_path: Path) -> None:
    import subprocess
    import sys

    def code(*args: str) -> int:
        argv = [sys.executable, "-m", "tcpconform.cli", "run", "-q", "--no-color", "--report-dir", str(tmp_path), *args]
        return subprocess.run(argv, capture_output=True, text=True).returncode

    assert (code("seed-handshake"), code("seed-teardown", "--fault", "ignore-fin"), code("--fault", "nope")) == (0, 1, 2)


def test_a_ctrl_c_swallowed_where_it_landed_is_raised_again_at_the_schedulers_next_turn() -> None:
    """Python loses the KeyboardInterrupt of a handler run inside a weakref callback or a __del__;
    the noted interrupt is raised again by the scheduler (which calls check on a real clock)."""
    import contextlib
    import weakref

    from tcpconform import interrupts

    class Thing:
        pass

    def callback(ref: object) -> None:  # where the garbage collector runs code: exceptions are only printed
        with contextlib.suppress(KeyboardInterrupt):  # what "Exception ignored in ..." amounts to
            interrupts.on_sigint(signal.SIGINT, None)

    thing = Thing()
    keep = weakref.ref(thing, callback)
    del thing
    assert keep() is None
    with pytest.raises(KeyboardInterrupt):
        interrupts.check()
    interrupts.check()  # taken: nothing left to raise
