"""The bundled packetdrill scripts (testcases-pkt/) run as cases: against the in-process reference
responder, through the engine and through the command line, and against Linux in the lab (root).

Each SYN-ACK options script is written in one stack's layout (packetdrill compares options as
written), so each fails on the other stack: that it does is the proof options are checked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner
from support.lab import TEST_LABS, needs_root

from tcpconform.cases.load import load_case, load_cases
from tcpconform.cases.profiles import get_profile
from tcpconform.cli import main
from tcpconform.engine.run import execute
from tcpconform.lab.lab import temporary_lab
from tcpconform.targets.reference import open_reference

SCRIPTS = Path(__file__).resolve().parents[2] / "testcases-pkt"
LAYOUTS = ("syn-options", "syn-mss-only", "syn-wscale-only", "syn-sackok-only", "syn-ts-only", "ts-data-ack",
           "data-two-segments", "data-three-segments", "half-close-peer-data", "seed")
"""The scripts written as a pair, one per stack (``NAME`` the reference responder's, ``NAME-linux``
Linux's): where the two, both conformant, differ in what a packetdrill script must spell out, the
SYN-ACK's option layout or how soon each segment in is acknowledged (Linux's quick-ACK mode)."""
ONLY_LINUX = {f"pkt-{name}-linux" for name in LAYOUTS}
ONLY_REFERENCE = {f"pkt-{name}" for name in LAYOUTS}
FAULTS = {
    "nagle.pkt": "no-nagle", "nodelay-write.pkt": "nodelay-ignored", "out-of-order.pkt": "no-dup-ack",
    "dup-syn-syn-rcvd.pkt": "dup-syn-ack-only", "ack-syn-rcvd-bad.pkt": "accept-any-ack-syn-rcvd",
    "ack-unsent.pkt": "accept-ack-of-unsent", "close-unread-rst.pkt": "fin-despite-unread",
    "zero-window-probe.pkt": "no-persist-probe", "zero-window-update.pkt": "ignore-window", "mss-small.pkt": "ignore-mss",
    "fin-retransmit.pkt": "no-retransmit", "old-data-dup-ack.pkt": "ignore-unacceptable",
    "rst-out-of-window.pkt": "answer-rst-with-rst", "fin-with-data.pkt": "ignore-fin", "reset-read.pkt": "ignore-rst",
    "simultaneous-close.pkt": "ignore-fin", "syn-closed-port.pkt": "closed-port-rst-no-ack",
    "half-close-peer-data.pkt": "ignore-fin",
}
"""A script and a reference-responder fault it sees: with the fault on, the script fails."""


def _verdicts(paths: list[Path], *faults: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for case in load_cases(paths):
        ref = open_reference(faults)
        out[case.id] = execute([case], ref.link, ref.target, get_profile("reference")).cases[0].verdict
    return out


def test_every_script_passes_on_the_reference_but_linux_own_layout() -> None:
    verdicts = _verdicts([SCRIPTS])
    assert len(verdicts) >= 40 and verdicts.keys() >= ONLY_LINUX | ONLY_REFERENCE, sorted(verdicts)
    assert {k for k, v in verdicts.items() if v != "pass"} == ONLY_LINUX, verdicts


def test_a_faulty_responder_fails_the_scripts_that_see_the_fault() -> None:
    assert _verdicts([SCRIPTS / "close-passive.pkt", SCRIPTS / "seed.pkt"], "ignore-fin") == {
        "pkt-close-passive": "fail", "pkt-seed": "fail"}
    assert _verdicts([SCRIPTS / "handshake.pkt"], "bad-syn-ack") == {"pkt-handshake": "fail"}


def test_each_script_of_the_fault_table_fails_with_its_fault_and_passes_without() -> None:
    for name, fault in FAULTS.items():
        case = "pkt-" + name.removesuffix(".pkt")
        assert _verdicts([SCRIPTS / name], fault) == {case: "fail"}, (name, fault)
        assert _verdicts([SCRIPTS / name]) == {case: "pass"}, name


def test_an_early_segment_breaks_the_silence_before_a_late_expectation(tmp_path: Path) -> None:
    script = tmp_path / "early.pkt"
    script.write_text("// the SYN-ACK is scripted a second late\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                      "+0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n+0 < S 0:0(0) win 5000\n+1 > S. 0:0(0) ack 1 <...>\n")
    ref = open_reference()
    res = execute([load_case(script)], ref.link, ref.target, get_profile("reference")).cases[0]
    assert res.verdict == "fail" and "early.pkt:6" in res.reason


def test_a_segment_the_script_does_not_write_fails_it_even_during_a_wait(tmp_path: Path) -> None:
    script = tmp_path / "unscripted.pkt"
    script.write_text((SCRIPTS / "data-out.pkt").read_text().replace("+0    > P. 1:301(300) ack 1\n", "")
                      .replace("+0.01 < . 1:1(0) ack 301 win 5000\n",
                               "+0.1 < P. 1:11(10) ack 301 win 5000\n+0 > . 301:301(0) ack 11\n"))
    ref = open_reference()
    res = execute([load_case(script)], ref.link, ref.target, get_profile("reference")).cases[0]
    assert res.verdict == "fail" and "unexpected segment: P. 1:301(300)" in res.reason


def test_the_command_line_runs_scripts_and_yaml_together_with_reports(tmp_path: Path) -> None:
    seed = SCRIPTS.parent / "testcases" / "seed" / "07-full-sequence.yaml"
    out = CliRunner().invoke(main, ["run", "--cases", str(SCRIPTS / "seed.pkt"), "--cases", str(seed),
                                    "--report-dir", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert "pkt-seed" in out.output and "seed-full-sequence" in out.output
    results = json.loads((tmp_path / "results.json").read_text())
    assert "pkt-seed" in json.dumps(results)
    assert 'name="pkt-seed"' in (tmp_path / "junit.xml").read_text() or "pkt-seed" in (tmp_path / "junit.xml").read_text()


LAB = os.environ.get("TCPCONFORM_PKT_LAB", TEST_LABS[-1])
"""The lab the Linux run uses (a test lab unless told another)."""


@needs_root
def test_the_scripts_against_linux_in_the_lab(tmp_path: Path) -> None:
    with temporary_lab(LAB):
        out = CliRunner().invoke(main, ["run", "--lab", "linux", "--lab-name", LAB, "--cases", str(SCRIPTS),
                                        "--report-dir", str(tmp_path)])
        results = json.loads((tmp_path / "results.json").read_text())
        verdicts = {c["id"]: c["verdict"] for c in results["cases"]}
        differ = sorted(k for k, v in verdicts.items() if (v == "fail") != (k in ONLY_REFERENCE))
        if differ:  # what disagrees in a run of many connections at once is judged again alone
            again = CliRunner().invoke(main, ["run", "--lab", "linux", "--lab-name", LAB, "--cases", str(SCRIPTS),
                                              "--jobs", "1", "--report-dir", str(tmp_path / "again"), *differ])
            alone = json.loads((tmp_path / "again" / "results.json").read_text())["cases"]
            verdicts.update({c["id"]: c["verdict"] for c in alone})
            out = again
    assert {k for k, v in verdicts.items() if v == "fail"} == ONLY_REFERENCE, out.output
    assert verdicts["pkt-seed-linux"] == "pass" and verdicts["pkt-handshake"] == "pass"
