"""The catalogue's levels are the RFCs' own: a failing MUST is a real MUST.

Invariants checked over every bundled case and every matrix cell:

- a requirement labelled with an RFC 9293 id has that id's level (MUST-n: MUST, SHLD-n and REC-n:
  SHOULD, MAY-n: MAY);
- a requirement citing RFC 5961 is a MUST only if its text quotes a MUST, and RFC 5961's
  mitigations (a challenge ACK, the ACK-value check) are never MUSTs: RFC 9293 3.10.7.4 leaves them
  to the implementer ("For stacks implementing the protection described in RFC 5961"), RFC 5961
  itself says SHOULD (3.2, 4.2) and MAY (5.2);
- a MUST whose text quotes only a lowercase "should" is not a MUST;
- one behaviour is required at one level: requirements citing the same RFC 5961 section agree,
  requirements with the same reference and text agree, and each single-file case that checks a
  behaviour a matrix cell also checks (``SAME_BEHAVIOUR``) states it at the cell's level;
- a case whose level is below MUST says so in its title when it checks a MAY or an optional
  mitigation, and its level is that of what it checks, so ``--fail-on must`` does not count it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tcpconform.cases.load import load_cases
from tcpconform.cases.model import Requirement, TestCase

ROOT = Path(__file__).resolve().parents[2]

RID_LEVEL = {"MUST": "MUST", "SHLD": "SHOULD", "REC": "SHOULD", "MAY": "MAY"}

SAME_BEHAVIOUR: list[tuple[tuple[str, str], tuple[str, str]]] = [
    # (single-file case, its requirement) and (matrix cell, its requirement): one (state, event)
    (("handshake-syn-retransmitted", "dup-syn"), ("matrix-syn-rcvd-syn", "dup-syn")),
    (("reset-in-window-challenge", "challenge"), ("matrix-established-rst-ack", "rst-challenge")),
    (("reset-in-window-challenge", "survives"), ("matrix-established-rst-ack", "rst-challenge")),
    (("reset-syn-in-established", "syn-challenge"), ("matrix-established-syn", "syn-challenge")),
    (("reset-syn-in-established", "survives"), ("matrix-established-syn", "syn-challenge")),
    (("reset-exact-sequence", "rst-exact"), ("matrix-established-rst", "rst-exact")),
    (("handshake-rst-in-syn-rcvd", "rst-syn-rcvd"), ("matrix-syn-rcvd-rst", "rst-exact")),
    (("handshake-rst-to-listener", "never-answer"), ("matrix-listen-rst", "rst-not-answered")),
    (("handshake-ack-to-listener", "listen-ack"), ("matrix-listen-ack", "listen-ack-rst")),
    (("window-duplicate-segment", "unacceptable"), ("matrix-close-wait-fin", "unacceptable")),
    (("window-out-of-window-data", "unacceptable"), ("matrix-close-wait-fin", "unacceptable")),
    (("teardown-time-wait-refin", "time-wait"), ("matrix-time-wait-fin", "time-wait-fin")),
    (("seed-teardown", "fin-ack"), ("matrix-established-fin-ack", "fin")),
    (("seed-handshake", "syn-ack"), ("matrix-listen-syn", "listen-syn")),
]


@pytest.fixture(scope="module")
def catalogue() -> dict[str, TestCase]:
    return {case.id: case for case in load_cases([ROOT / "testcases"])}


def _all(catalogue: dict[str, TestCase]) -> list[tuple[TestCase, Requirement]]:
    return [(case, req) for case in catalogue.values() for req in case.requirements]


def _req(catalogue: dict[str, TestCase], case_id: str, req_id: str) -> Requirement:
    case = catalogue[case_id]
    req = case.requirement(req_id)
    assert req is not None, f"{case_id} has no requirement {req_id!r}: SAME_BEHAVIOUR names it"
    return req


def _cites_5961(req: Requirement) -> bool:
    return "5961" in req.ref


def test_a_labelled_requirement_has_its_labels_level(catalogue: dict[str, TestCase]) -> None:
    wrong = [f"{case.id}/{req.id}: {req.rid} at {req.level.value}" for case, req in _all(catalogue)
             if req.rid and RID_LEVEL[req.rid.split("-")[0]] != req.level.value]
    assert not wrong


def test_rfc_5961_is_a_must_only_where_it_says_must(catalogue: dict[str, TestCase]) -> None:
    wrong = [f"{case.id}/{req.id} ({req.ref})" for case, req in _all(catalogue)
             if _cites_5961(req) and req.level.value == "MUST" and "MUST" not in (req.text or "")]
    assert not wrong


def test_rfc_5961_mitigations_are_never_musts(catalogue: dict[str, TestCase]) -> None:
    mitigation = re.compile(r"challenge ACK|MAX\.SND\.WND", re.IGNORECASE)
    wrong = [f"{case.id}/{req.id}" for case, req in _all(catalogue)
             if req.level.value == "MUST" and mitigation.search(req.text or "")]
    assert not wrong


def test_a_lowercase_should_is_not_a_must(catalogue: dict[str, TestCase]) -> None:
    wrong = [f"{case.id}/{req.id}" for case, req in _all(catalogue)
             if req.level.value == "MUST" and re.search(r"\bshould\b", req.text or "")
             and not re.search(r"\bmust\b", req.text or "", re.IGNORECASE)]
    assert not wrong


def test_one_rfc_5961_section_one_level(catalogue: dict[str, TestCase]) -> None:
    levels: dict[str, set[str]] = {}
    for _case, req in _all(catalogue):
        for section in re.findall(r"RFC 5961 (\d+(?:\.\d+)*)", req.ref):
            if not (req.level.value == "MUST" and "MUST" in (req.text or "")):  # the exact RST: a MUST
                levels.setdefault(section, set()).add(req.level.value)
    assert {s: v for s, v in levels.items() if len(v) > 1} == {}


def test_one_reference_and_text_one_level(catalogue: dict[str, TestCase]) -> None:
    levels: dict[tuple[str, str], set[str]] = {}
    for _case, req in _all(catalogue):
        if req.text:
            levels.setdefault((req.ref, req.text), set()).add(req.level.value)
    assert [k for k, v in levels.items() if len(v) > 1] == []


@pytest.mark.parametrize(("single", "cell"), SAME_BEHAVIOUR, ids=[f"{s[0]}-{c[0]}" for s, c in SAME_BEHAVIOUR])
def test_a_case_and_the_matrix_agree(catalogue: dict[str, TestCase], single: tuple[str, str],
                                     cell: tuple[str, str]) -> None:
    assert catalogue[cell[0]].matrix_cell is not None
    assert _req(catalogue, *single).level == _req(catalogue, *cell).level


def test_a_case_below_must_says_so(catalogue: dict[str, TestCase]) -> None:
    """A MAY case names MAY in its title; a case checking an optional mitigation is not a MUST case
    and its title says the check is optional (or its level)."""
    wrong = []
    for case in catalogue.values():
        if case.level.value == "MAY" and "MAY" not in case.title:
            wrong.append(f"{case.id}: a MAY case without MAY in its title")
        if any(_cites_5961(r) and r.level.value != "MUST" for r in case.requirements):
            if case.level.value == "MUST":
                wrong.append(f"{case.id}: an optional mitigation in a MUST case")
            elif not re.search(r"optional|SHOULD|MAY", case.title):
                wrong.append(f"{case.id}: an optional mitigation its title does not name")
    assert not wrong
