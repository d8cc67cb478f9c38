"""Every labelled requirement of RFC 9293 is accounted for: a case checks it, or the data says what
is missing (and whether the wire can show it); a case cites only requirements RFC 9293 labels, at
their level."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.document import CaseFileError
from tcpconform.cases.load import load_case, load_cases
from tcpconform.cases.requirements import coverage, rfc9293

CASE = """\
id: x
title: t
requirements: [{{id: r, ref: RFC 9293 3.8.6.3, level: {level}, rid: {rid}}}]
no_fault: n
steps: [{{wait: 1}}]
"""


def test_every_labelled_requirement_is_listed_once_with_its_level() -> None:
    reqs = rfc9293()
    assert [r for r in reqs if r.startswith("MUST-")] == [f"MUST-{n}" for n in range(1, 70)]
    assert [r for r in reqs if r.startswith("SHLD-")] == [f"SHLD-{n}" for n in range(1, 32)]
    assert [r for r in reqs if r.startswith("MAY-")] == [f"MAY-{n}" for n in range(1, 19)]
    assert "REC-1" in reqs and len(reqs) == 119
    assert {r.level.value for rid, r in reqs.items() if rid.startswith("SHLD-")} == {"SHOULD"}
    assert all(r.observable in ("server", "agent", "client", "no") for r in reqs.values())


def test_a_requirement_no_case_checks_says_what_is_missing() -> None:
    rows = coverage(load_cases([bundled_cases()]))
    silent = [row.requirement.rid for row in rows if not row.cases and not row.requirement.missing]
    assert silent == [], "requirements no case cites and no 'missing' explains: " + ", ".join(silent)


def test_a_requirement_no_case_can_observe_says_why() -> None:
    assert all(r.missing for r in rfc9293().values() if r.observable == "no")


@pytest.mark.parametrize("rid, level, said", [
    ("MUST-99", "MUST", "RFC 9293 labels no requirement 'MUST-99'"),
    ("SHLD-28", "MUST", "SHLD-28 is a SHOULD in RFC 9293 (3.9.1.2: Send full-size segments whenever possible.); "
                        "this requirement says MUST"),
])
def test_a_case_cites_only_labelled_requirements_at_their_level(tmp_path: Path, rid: str, level: str, said: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(CASE.format(rid=rid, level=level))
    with pytest.raises(CaseFileError) as err:
        load_case(path)
    assert "x.yaml:3:" in str(err.value) and said in str(err.value)


def test_the_coverage_command_prints_every_requirement_and_the_counts() -> None:
    from click.testing import CliRunner

    from tcpconform.cli import main

    out = CliRunner().invoke(main, ["coverage"]).output
    assert out.count("\nMUST-") + out.startswith("MUST-") == 69
    assert "MUST-40  MUST   checked" in out and "cases: ack-single-segment" in out
    assert out.rstrip().splitlines()[-3].startswith("MUST    69:")
    only = CliRunner().invoke(main, ["coverage", "--level", "should", "--missing"]).output.splitlines()
    rows = [line for line in only if line[:1].isupper() and "-" in line.split()[0]]
    assert rows and all(line.startswith("SHLD-") for line in rows)
    assert all(line.split()[2] in ("partly", "MISSING") for line in rows)
