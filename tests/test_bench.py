"""The benchmark's plumbing: mandated waiting from step timings, and the commands running end to end.

Nothing here asserts a time: the figures are printed for people to compare, never judged by tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

from click.testing import CliRunner

from tcpconform.bench import equality_bench, mandated_waiting
from tcpconform.bench.catalogue import catalogue_figures, parallel_bound
from tcpconform.bench.segments import codec_figures
from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_cases
from tcpconform.cli import main
from tcpconform.results import CaseResult, SegmentRecord, StepResult


def seed_cases() -> list:  # type: ignore[type-arg]
    return [c for c in load_cases([bundled_cases()]) if "seed" in c.tags]


def test_mandated_waiting_counts_silence_waits_and_the_wait_for_expected_segments() -> None:
    case = CaseResult("c", "t", "f", 1, "a", "MUST", [])
    case.segments = [SegmentRecord("out", 0.0, "", "", {}), SegmentRecord("in", 0.25, "", "", {})]
    case.steps = [
        StepResult(0, "l", "send", "", "pass", 0.0, 0.001),
        StepResult(1, "l", "expect", "", "pass", 0.001, 0.26, observed=[1]),  # arrived at 0.25
        StepResult(2, "l", "silence", "", "pass", 0.26, 0.76),
        StepResult(3, "l", "wait", "", "pass", 0.76, 0.86),
        StepResult(4, "l", "app", "", "pass", 0.86, 0.9),
        StepResult(5, "l", "expect", "", "fail", 0.9, 1.4),  # nothing came: the whole window
        StepResult(6, "l", "expect", "", "not-run"),
    ]
    assert abs(mandated_waiting(case) - (0.249 + 0.5 + 0.1 + 0.5)) < 1e-9


def test_parallel_bound_runs_the_alone_cases_one_after_the_other() -> None:
    waits = {"a": 3.0, "b": 1.0, "c": 1.0, "d": 0.5, "e": 0.5}
    assert parallel_bound(waits, set(), 16) == 3.0  # the longest case
    assert parallel_bound(waits, set(), 2) == 3.0  # 6 s over 2 jobs is no less than the longest
    assert parallel_bound({"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0}, set(), 2) == 2.0
    assert parallel_bound(waits, {"d", "e"}, 16) == 4.0  # 0.5 + 0.5 alone, then the longest other
    assert parallel_bound({"d": 0.5}, {"d"}, 4) == 0.5


def test_catalogue_figures_in_process() -> None:
    from tcpconform.session import in_process

    lines = list(catalogue_figures("in-process", seed_cases(), lambda: in_process(()), [2], virtual=True))
    text = "\n".join(lines)
    assert "mandated waiting: longest case" in text and "sum over all cases" in text and "run alone" in text
    assert "--jobs 1" in text and "--jobs 2" in text and "virtual time" in text and "lower bound" in text


def test_report_figures_name_every_format_and_the_bytes_per_segment() -> None:
    from tcpconform.bench.reports import report_figures
    from tcpconform.session import in_process

    lines = list(report_figures(seed_cases(), lambda: in_process(())))
    assert lines[0].startswith("reports of one catalogue run: ") and "segments" in lines[0], lines
    assert "bytes per segment" in lines[1], lines
    assert all(fmt in lines[2] for fmt in ("html", "json", "junit", "pcap")), lines


def test_equality_in_process_finds_no_difference() -> None:
    lines = list(equality_bench(1, seed_cases(), 3))
    assert any("serial vs --jobs: 0 differing verdict(s)" in line for line in lines), lines


def test_codec_figures_name_both_sides() -> None:
    lines = list(codec_figures(5))
    assert len(lines) == 2 and all("Scapy" in line and "decode" in line for line in lines)


def test_bench_command_equality_and_usage_errors() -> None:
    runner = CliRunner()
    done = runner.invoke(main, ["bench", "--equality", "1", "--jobs", "4", "-k", "seed-hand"])
    assert done.exit_code == 0, done.output
    assert "verdict equality, in-process reference responder" in done.output
    assert runner.invoke(main, ["bench", "--lab", "linux"]).exit_code == 2
    bad = runner.invoke(main, ["bench", "--jobs", "1", "--equality", "1"])
    assert bad.exit_code == 2 and "2 or more" in bad.output


def test_the_fuzz_campaigns_print_their_figures() -> None:
    from click.testing import CliRunner

    from tcpconform.cli import main

    out = CliRunner().invoke(main, ["bench", "--fuzz", "3000", "--fuzz-only", "decoder", "--fuzz-only", "responder"])
    assert out.exit_code == 0, out.output
    assert "fuzz responder: invariant breaks: 0" in out.output and "fuzz decoder: exceptions: 0" in out.output
    assert "RSS at each tenth" in out.output and "case files" not in out.output


def test_the_packetdrill_comparison_names_what_it_cannot_run(tmp_path: Path) -> None:
    """No packetdrill builds here (it is in no package registry): the usage errors, before any lab is made."""
    runner = CliRunner()
    missing = runner.invoke(main, ["bench", "--packetdrill", str(tmp_path / "packetdrill")])
    assert missing.exit_code == 2 and "not an executable file" in missing.output
    cases = runner.invoke(main, ["bench", "--packetdrill", sys.executable, "--cases", "testcases/seed"])
    assert cases.exit_code == 2 and "give packetdrill scripts (*.pkt)" in cases.output
