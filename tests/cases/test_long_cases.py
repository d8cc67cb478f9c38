"""Long cases (``long: true``): read from the file, run alone and after the others, said so by the
console, ``list`` and the HTML report, and left out by ``--quick`` (with the count said) while a full
in-process run (a virtual clock) keeps them and proves each passes clean and fails under its faults."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_cases
from tcpconform.cases.long import duration_text, expected_duration, leave_out_long, long_label, quick_faults
from tcpconform.cli import main
from tcpconform.engine.scheduler import runs_alone
from tcpconform.pytest_plugin.items import markers_of

LONG_IDS = {"giveup-r2-data", "giveup-syn-r2", "giveup-zero-window-minutes"}

CASE = """\
id: {id}
title: "A case"
requirements:
  - {{id: r, ref: RFC 9293 3.8.3, level: MUST}}
no_fault: "a test of the format"
{long}steps:
  - send: "S 0:0(0) win 5000"
  - silence: {silence}
"""


def _write(folder: Path, cid: str, silence: str, long: bool) -> Path:
    path = folder / f"{cid}.yaml"
    path.write_text(CASE.format(id=cid, silence=silence, long="long: true\n" if long else ""))
    return path


def test_the_bundled_long_cases_are_the_giving_up_ones_and_run_alone() -> None:
    cases = load_cases([bundled_cases()])
    long = {c.id for c in cases if c.long}
    assert long == LONG_IDS
    assert all(runs_alone(c) for c in cases if c.long)
    assert {c.id: long_label(c) for c in cases if c.long} == {
        "giveup-r2-data": "long: about 20 min", "giveup-syn-r2": "long: about 10 min",
        "giveup-zero-window-minutes": "long: about 3 min",
    }
    assert not any(c.long for c in cases if c.id == "giveup-user-timeout")  # ~20 s: a normal case


def test_expected_duration_counts_silences_and_waits_only(tmp_path: Path) -> None:
    (case,) = load_cases([_write(tmp_path, "a", "150s", True)])
    assert expected_duration(case) == 150.0 and long_label(case) == "long: about 2 min"
    assert duration_text(45) == "about 45 s" and duration_text(1200) == "about 20 min"
    (short,) = load_cases([_write(tmp_path, "b", "1s", False)])
    assert long_label(short) is None


def test_long_must_be_a_boolean(tmp_path: Path) -> None:
    from tcpconform.cases.document import CaseFileError

    path = tmp_path / "bad.yaml"
    path.write_text(CASE.format(id="bad", silence="1s", long="long: sometimes\n"))
    with pytest.raises(CaseFileError, match=r"bad.yaml:\d+.*long"):
        load_cases([path])


def test_quick_leaves_out_the_long_cases_and_the_faults_only_they_name() -> None:
    cases = load_cases([bundled_cases()])
    kept, left = leave_out_long(cases, quick=True)
    assert {c.id for c in left} == LONG_IDS and len(kept) == len(cases) - len(LONG_IDS)
    assert leave_out_long(cases, quick=False) == (cases, [])
    tried = quick_faults(kept, left, ())
    assert tried is not None
    assert {"gives-up-early", "syn-gives-up-early", "syn-never-gives-up", "persist-gives-up"}.isdisjoint(tried)
    assert "never-gives-up" in tried  # the user-timeout case, not long, names it too
    assert quick_faults(cases, [], ()) is None


def test_run_quick_says_what_it_left_out_and_a_full_run_marks_long_cases(tmp_path: Path) -> None:
    runner = CliRunner()
    quick = runner.invoke(main, ["run", "-k", "giveup", "--quick", "--report-dir", str(tmp_path / "q")])
    assert quick.exit_code == 0, quick.output
    assert "--quick: 3 long case(s) left out (about 33 min of waiting): " in quick.output
    assert "1 passed" in quick.output
    full = runner.invoke(main, ["run", "-k", "giveup", "--report-dir", str(tmp_path / "f")])
    assert full.exit_code == 0, full.output
    assert "3 long case(s), about 33 min of mandated waiting on a real clock" in full.output
    assert "4 passed" in full.output and full.output.count("of mandated waiting, run alone") == 3
    assert "long: about 20 min of mandated waiting" in full.output
    html = (tmp_path / "f" / "report.html").read_text()
    assert "long: about 20 min" in html and "runs alone" in html


def test_a_quick_run_of_long_cases_alone_is_a_usage_error() -> None:
    done = CliRunner().invoke(main, ["run", "giveup-r2-data", "--quick"])
    assert done.exit_code == 2 and "no test case matches" in done.output


def test_a_run_without_long_cases_says_nothing_of_them(tmp_path: Path) -> None:
    done = CliRunner().invoke(main, ["run", "seed-handshake", "--report-dir", str(tmp_path)])
    assert done.exit_code == 0 and "long case" not in done.output


def test_list_marks_the_long_cases() -> None:
    done = CliRunner().invoke(main, ["list", "-k", "giveup"])
    assert done.exit_code == 0
    lines = [line for line in done.output.splitlines() if "[long: about" in line]
    assert len(lines) == 3 and all(any(i in line for i in LONG_IDS) for line in lines)


GIVEUP_FAULTS = ["gives-up-early", "never-gives-up", "syn-gives-up-early", "syn-never-gives-up", "user-timeout-ignored",
                 "persist-gives-up", "no-persist-probe"]


def test_selftest_proves_the_long_cases_in_process_and_quick_leaves_them_out() -> None:
    faults = [arg for f in GIVEUP_FAULTS for arg in ("--fault", f)]
    full = CliRunner().invoke(main, ["selftest", "-k", "giveup", *faults])
    assert full.exit_code == 0, full.output
    assert "selftest OK" in full.output
    quick = CliRunner().invoke(main, ["selftest", "-k", "giveup", "--quick", *faults])
    assert quick.exit_code == 0, quick.output
    assert "3 long case(s) left out" in quick.output and "selftest OK" in quick.output


def test_the_pytest_plugin_marks_long_cases() -> None:
    cases = {c.id: c for c in load_cases([bundled_cases()])}
    assert "long" in markers_of(cases["giveup-r2-data"])
    assert "long" not in markers_of(cases["giveup-user-timeout"])


def test_long_cases_run_alone_after_the_others() -> None:
    from tcpconform.run import RunRequest, TargetChoice, run

    cases = [c for c in load_cases([bundled_cases()]) if c.area in ("giveup", "seed")]
    result = run(RunRequest(cases, TargetChoice(), fail_on=None)).result
    spans = {c.id: (c.started, c.started + c.duration) for c in result.cases}
    short_end = max(end for cid, (_, end) in spans.items() if cid not in LONG_IDS)
    long_spans = sorted(span for cid, span in spans.items() if cid in LONG_IDS)
    assert long_spans[0][0] >= short_end
    assert all(a[1] <= b[0] for a, b in pairwise(long_spans))  # one at a time
