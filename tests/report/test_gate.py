"""The CI gate: --fail-on levels, the baseline of known deviations, and compare."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tcpconform.cli import main


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_a_failed_should_does_not_fail_the_default_gate(tmp_path: Path) -> None:
    code, out = invoke("run", "seed-delayed-ack", "--fault", "ack-every-segment", "--report-dir", str(tmp_path))
    assert code == 0 and "gate: pass" in out and "SHOULD: 1 failed" in out
    code, out = invoke("run", "seed-delayed-ack", "--fault", "ack-every-segment", "--fail-on", "should",
                       "--report-dir", str(tmp_path))
    assert code == 1 and "gate: FAIL" in out


def test_baseline_expected_failure_unexpected_pass_and_new_failure(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(
        "deviations:\n"
        "  - case: seed-teardown\n    reason: known firmware bug FW-123\n"
        "  - case: seed-handshake\n    reason: fixed in this build\n"
    )
    # Expected failure only: the gate passes, the known deviation is reported.
    code, out = invoke("run", "seed-teardown", "seed-handshake", "--fault", "ignore-fin",
                       "--baseline", str(baseline), "--report-dir", str(tmp_path))
    assert code == 0, out
    assert "known deviation (baseline): seed-teardown" in out
    assert "UNEXPECTED PASS: seed-handshake" in out
    data = json.loads((tmp_path / "results.json").read_text())
    marks = {c["id"]: c["baseline"] for c in data["cases"]}
    assert marks == {"seed-teardown": "expected-fail", "seed-handshake": "unexpected-pass"}
    # A new failure fails the run even with a baseline.
    code, out = invoke("run", "seed-teardown", "seed-full-sequence", "--fault", "ignore-fin",
                       "--baseline", str(baseline), "--report-dir", str(tmp_path))
    assert code == 1 and "seed-full-sequence" in out.split("gate: FAIL")[1]


def test_baseline_target_pattern_limits_a_deviation(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text("deviations:\n  - {case: seed-teardown, reason: only on Linux, target: 'Linux*'}\n")
    code, _ = invoke("run", "seed-teardown", "--fault", "ignore-fin", "--baseline", str(baseline),
                     "--report-dir", str(tmp_path))
    assert code == 1  # the reference responder is not 'Linux*': the failure is new here


def test_a_malformed_baseline_is_named_with_its_field(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text("deviations:\n  - {case: seed-teardown, reson: typo}\n")
    code, out = invoke("run", "--baseline", str(baseline), "--report-dir", str(tmp_path))
    assert code == 2 and "deviations[0]" in out and "reson" in out and "Traceback" not in out


def test_compare_reports_regressions_and_exits_nonzero(tmp_path: Path) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    assert invoke("run", "--report-dir", str(good))[0] == 0
    assert invoke("run", "--fault", "ignore-fin", "--report-dir", str(bad))[0] == 1
    code, out = invoke("compare", str(good / "results.json"), str(bad / "results.json"))
    assert code == 1 and "regression" in out and "seed-teardown" in out and "pass -> fail" in out
    code, out = invoke("compare", str(bad / "results.json"), str(good / "results.json"))
    assert code == 0 and "fixed" in out
    code, out = invoke("compare", str(good / "results.json"), str(good / "results.json"))
    assert code == 0 and "0 regression(s)" in out


def test_compare_refuses_a_file_that_is_not_results(tmp_path: Path) -> None:
    junk = tmp_path / "x.json"
    junk.write_text("{}")
    code, out = invoke("compare", str(junk), str(junk))
    assert code == 2 and "not a tcpconform results.json" in out


def test_the_verdict_is_judged_once_and_every_renderer_reads_it() -> None:
    from tcpconform.cases.bundled import bundled_cases
    from tcpconform.cases.load import load_cases
    from tcpconform.cases.profiles import get_profile
    from tcpconform.engine.run import execute
    from tcpconform.gate import Deviation, evaluate
    from tcpconform.report.console import gate_lines
    from tcpconform.targets.reference import open_reference

    ref = open_reference(["fin-without-app"])
    cases = [c for c in load_cases([bundled_cases()]) if c.id in ("seed-teardown", "seed-handshake")]
    result = execute(cases, ref.link, ref.target, get_profile("reference"))
    gate = evaluate(result, "must", [Deviation("seed-teardown", "known"), Deviation("seed-handshake", "stale")])
    assert (gate.passed, gate.exit_code, gate.counted) == (True, 0, ())
    assert (gate.known, gate.stale, gate.failed) == (("seed-teardown",), ("seed-handshake",), 1)
    assert gate_lines(gate)[-1] == gate.summary == "gate: pass (1 failure(s), none counted with --fail-on must)"
    again = open_reference(["fin-without-app"])  # the baseline marked the first result's cases
    strict = evaluate(execute(cases, again.link, again.target, get_profile("reference")), "must")
    assert (strict.passed, strict.exit_code, strict.counted) == (False, 1, ("seed-teardown",))
