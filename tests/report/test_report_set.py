"""The report directory holds one run's set, whole, and every verdict that finished, however the run
ends: killed (SIGKILL), interrupted, failed by an error of ours, or normally after an earlier run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tcpconform.report.reportset import SET_FILES


def _results(directory: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((directory / "results.json").read_text())


def _run_until(directory: Path, after: int, then: str) -> subprocess.CompletedProcess[str]:
    """A run of the bundled cases whose ``after``-th finished case is followed by ``then``
    (Python, run in the tester's process: a SIGKILL, an exception)."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        from pathlib import Path
        from tcpconform.cases.bundled import bundled_cases
        from tcpconform.cases.load import load_cases
        from tcpconform.run import RunRequest, run
        done = [0]
        def on_case_done(case):
            done[0] += 1
            if done[0] == {after}:
                {then}
        run(RunRequest(load_cases([bundled_cases()]), report_dir=Path({str(directory)!r}), jobs=1,
                       on_case_done=on_case_done))
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


def test_a_killed_run_leaves_every_finished_verdict_in_a_valid_results_json(tmp_path: Path) -> None:
    proc = _run_until(tmp_path, 30, "os.kill(os.getpid(), signal.SIGKILL)")
    assert proc.returncode == -signal.SIGKILL
    results = _results(tmp_path)
    assert results["run"]["state"] == "running"
    # the 30th was being handed out when the process died: it is written before it is announced
    assert len(results["cases"]) == 30
    assert sum(results["summary"]["counts"].values()) == 30
    for case in results["cases"]:
        assert case["pcap"] is None or (tmp_path / case["pcap"]).is_file()
    assert not list(tmp_path.glob("*.tmp"))
    assert not (tmp_path / "junit.xml").exists()  # the set's other files come at the end, with the run's gate


def test_an_error_of_ours_mid_run_leaves_the_finished_verdicts_marked_aborted(tmp_path: Path) -> None:
    proc = _run_until(tmp_path, 12, "raise RuntimeError('the reporter broke')")
    assert proc.returncode == 1 and "the reporter broke" in proc.stderr
    results = _results(tmp_path)
    assert results["run"]["state"] == "aborted"
    assert results["run"]["abort_reason"] == "the reporter broke"
    assert len(results["cases"]) == 12  # recorded before the callback that raised


def test_a_run_replaces_the_previous_set_whole_and_keeps_other_files(tmp_path: Path) -> None:
    from tcpconform.cli import main

    (tmp_path / "README.md").write_text("not ours\n")
    (tmp_path / "results.json.tmp").write_text("half a file of a run killed while writing")
    for args in (["run", "-q"], ["run", "-q", "seed-handshake"]):
        with pytest.raises(SystemExit):
            main([*args, "--report-dir", str(tmp_path)])
    results = _results(tmp_path)
    assert results["run"]["state"] == "complete" and len(results["cases"]) == 1
    assert sorted(p.name for p in (tmp_path / "pcap").iterdir()) == ["seed-handshake.pcap"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*SET_FILES, "pcap", "README.md"])


def test_an_interrupted_run_is_marked_so(tmp_path: Path) -> None:
    proc = _run_until(tmp_path, 5, "signal.raise_signal(signal.SIGINT)")
    assert proc.returncode == -signal.SIGINT  # Python dies of the signal; the CLI exits 130 instead
    results = _results(tmp_path)
    assert results["run"]["state"] == "interrupted"
    verdicts = [c["reason"] for c in results["cases"] if c["verdict"] == "skip"]
    assert "not run (the run was interrupted)" in verdicts
    assert ET_parses(tmp_path / "junit.xml")


def ET_parses(path: Path) -> bool:
    import xml.etree.ElementTree as ET

    return ET.parse(path).getroot().tag == "testsuites"


def test_a_full_disk_loses_no_earlier_file_and_leaves_no_partial_one(tmp_path: Path) -> None:
    """A tmpfs of 400 kB, in a mount namespace of the test's own: the set does not fit."""
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small file system (unshare -m)")
    script = (f"mount -t tmpfs -o size=400k tcpc-full {tmp_path} && "
              f"{sys.executable} -m tcpconform.cli run -q --report-dir {tmp_path}; echo exit=$?; "
              f"ls -a {tmp_path}; cat {tmp_path}/results.json | head -c 300")
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120)
    assert "exit=2" in proc.stdout, proc.stdout + proc.stderr
    assert "No space left on device" in proc.stderr
    assert ".tmp" not in proc.stdout  # no half-written file is left
    assert '"state": "running"' in proc.stdout  # the verdicts that fitted are there, valid
