"""The state x event matrix: expansion of the table, its mistakes as file:line errors, and the
generated cases run against the reference responder."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tcpconform.cases.document import CaseFileError
from tcpconform.cases.load import load_case, load_cases, load_file
from tcpconform.cases.matrix import case_id
from tcpconform.cases.model import SendStep
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.run import execute
from tcpconform.report.matrix_grid import matrix_summary
from tcpconform.results import CaseResult
from tcpconform.targets.reference import open_reference

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "testcases" / "matrix" / "matrix.yaml"

SMALL = """\
matrix:
  numbering: {tester: 0, target: 100}
  requirements:
    - id: states
      ref: RFC 9293 3.3.2
      level: MUST
    - id: rst-exact
      ref: RFC 9293 3.10.7.4
      level: MUST
    - id: challenge
      ref: RFC 9293 3.10.7.4
      level: MUST
  states:
    LISTEN:
      numbering: absolute
      values: {snd: 5000, rcv: 1000}
      rfc: states
      steps:
        - app: listen
        - state: LISTEN
    ESTABLISHED:
      values: {snd: 101, rcv: 1}
      rfc: states
      steps:
        - app: listen
        - send: "S 0:0(0) win 5000 <mss 512>"
        - expect: "S. 100:100(0) ack 1"
        - send: ". 1:1(0) ack 101"
        - state: ESTABLISHED
  events:
    RST:
      send: "R $rcv:$rcv(0)"
    RST-ACK:
      send: "R. $rcv+1:$rcv+1(0) ack $snd"
  cells:
    LISTEN:
      RST: {silence: 300ms, tolerate: [], state: LISTEN, rfc: states, faults: [answer-rst-with-rst]}
      RST-ACK: {omit: "the same as RST here"}
    ESTABLISHED:
      RST: {silence: 300ms, state: CLOSED, rfc: rst-exact, faults: [ignore-rst]}
      RST-ACK: {expect: ". $snd:$snd(0) ack $rcv", within: 500ms, state: ESTABLISHED, rfc: challenge,
                faults: [rst-any-seq]}
"""


def line_of(text: str, needle: str, nth: int = 0) -> int:
    """1-based line of the ``nth`` line containing ``needle``."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[nth]


@pytest.fixture
def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], str]:
    monkeypatch.chdir(tmp_path)

    def put(text: str) -> str:
        Path("m").mkdir(exist_ok=True)
        Path("m/table.yaml").write_text(text, encoding="utf-8")
        return "m/table.yaml"

    return put


def table_errors(path: str) -> list[str]:
    with pytest.raises(CaseFileError) as info:
        load_file(path)
    return [str(e) for e in info.value.errors]


# --- expansion ----------------------------------------------------------------------------------


def test_small_table_expands_to_its_cells(write: Callable[[str], str]) -> None:
    path = write(SMALL)
    cases = load_file(path)
    assert [c.id for c in cases] == ["matrix-listen-rst", "matrix-established-rst", "matrix-established-rst-ack"]
    assert {c.area for c in cases} == {"matrix"}
    assert [c.matrix_cell for c in cases] == [("LISTEN", "RST"), ("ESTABLISHED", "RST"), ("ESTABLISHED", "RST-ACK")]
    case = cases[2]
    assert case.faults == ("rst-any-seq",)
    assert [r.id for r in case.requirements] == ["challenge", "states"]
    assert case.title == "RST-ACK in ESTABLISHED: expect . 101:101(0) ack 1, then ESTABLISHED"


def test_every_step_points_into_the_table(write: Callable[[str], str]) -> None:
    path = write(SMALL)
    case = {c.id: c for c in load_file(path)}["matrix-established-rst-ack"]
    lines = [s.loc.line for s in case.steps]
    assert {s.loc.file for s in case.steps} == {path}
    prefix = [line_of(SMALL, '- app: listen', 1) + i for i in range(5)]
    assert lines[:5] == prefix                                             # the state's steps
    assert lines[5] == line_of(SMALL, 'send: "R. $rcv+1')                  # the event's probe
    assert lines[6:] == [line_of(SMALL, "RST-ACK: {expect")] * 2           # the cell: response, state
    assert case.loc.line == line_of(SMALL, "RST-ACK: {expect")
    probe = case.steps[5]
    assert isinstance(probe, SendStep) and probe.text == "send R. 2:2(0) ack 101"


def test_bundled_table() -> None:
    cases = load_cases([TABLE])
    ids = {c.id for c in cases}
    assert len(cases) == 76  # 10 states x 8 events, 4 cells omitted (data after the peer's FIN)
    assert {"matrix-established-rst", "matrix-syn-rcvd-syn-ack", "matrix-time-wait-fin-ack",
            "matrix-listen-data"} <= ids
    assert not {"matrix-close-wait-data", "matrix-last-ack-data", "matrix-closing-data",
                "matrix-time-wait-data"} & ids
    for case in cases:
        assert (case.area == "matrix" and case.faults) or case.no_fault, case.id
        assert all(s.loc.file.endswith("matrix.yaml") for s in case.steps)


def test_loaded_with_the_rest_of_the_cases() -> None:
    ids = [c.id for c in load_cases([ROOT / "testcases"])]
    assert "seed-handshake" in ids and "matrix-established-rst" in ids


def test_load_case_refuses_a_table(write: Callable[[str], str]) -> None:
    path = write(SMALL)
    with pytest.raises(CaseFileError, match="matrix table"):
        load_case(path)


# --- mistakes in the table ------------------------------------------------------------------------


def test_misspelt_state(write: Callable[[str], str]) -> None:
    text = SMALL.replace("  states:\n    LISTEN:", "  states:\n    LISTN:")
    errs = table_errors(write(text))
    n = line_of(text, "    LISTN:")
    assert f"m/table.yaml:{n}:5: matrix.states.LISTN: unknown TCP state 'LISTN' (did you mean 'LISTEN'?)" in errs
    # and the cells row for LISTEN now names a state the table does not have
    row = line_of(text, "    LISTEN:")
    assert any(e.startswith(f"m/table.yaml:{row}:5: matrix.cells.LISTEN: no state 'LISTEN'") for e in errs)


def test_cell_naming_an_unknown_state(write: Callable[[str], str]) -> None:
    row = "    LISTEN:\n      RST: {omit: x}\n      RST-ACK: {omit: x}\n    CLOSNG:"
    text = SMALL.replace("  cells:\n    LISTEN:", "  cells:\n" + row)
    errs = table_errors(write(text))
    n = line_of(text, "    CLOSNG:")
    assert any(re.match(rf"m/table.yaml:{n}:5: matrix.cells.CLOSNG: no state 'CLOSNG' in the table's states", e)
               for e in errs), errs


def test_unknown_event(write: Callable[[str], str]) -> None:
    text = SMALL.replace("      RST: {silence: 300ms, state: CLOSED", "      RTS: {silence: 300ms, state: CLOSED")
    errs = table_errors(write(text))
    n = line_of(text, "      RTS:")
    assert f"m/table.yaml:{n}:7: matrix.cells.ESTABLISHED.RTS: no event 'RTS' in the table's events " \
           "(did you mean 'RST'?) (its events: RST, RST-ACK)" in errs
    assert any("no cell for event 'RST'" in e for e in errs)  # the row now lacks RST


def test_mistakes_in_generated_cases_point_into_the_table(write: Callable[[str], str]) -> None:
    text = SMALL.replace('send: "R. $rcv+1:$rcv+1(0) ack $snd"', 'send: "R. $rcv+1:$rcv+2(0) ack $snd"')
    text = text.replace("faults: [ignore-rst]", "faults: [ignore-rts]")
    text = text.replace('expect: ". $snd:$snd(0) ack $rcv"', 'expect: ". $snd:$snd(0) ack $rvc"')
    errs = table_errors(write(text))
    probe, fault = line_of(text, "R. $rcv+1"), line_of(text, "ignore-rts")
    expect = line_of(text, "ack $rvc")
    assert any(e.startswith(f"m/table.yaml:{probe}:13: matrix.events.RST-ACK.send: END must be SEQ + LEN")
               for e in errs), errs
    assert any(e.startswith(f"m/table.yaml:{fault}:") and "matrix.cells.ESTABLISHED.RST.faults[0]: "
               "unknown fault 'ignore-rts' (did you mean 'ignore-rst'?)" in e for e in errs), errs
    assert any(e.startswith(f"m/table.yaml:{expect}:") and "$rvc: no state gives a value 'rvc' "
               "(did you mean 'rcv'?)" in e for e in errs), errs
    assert len(errs) == len(set(errs))  # a template used by several states is reported once


def test_structural_mistakes(write: Callable[[str], str]) -> None:
    text = SMALL.replace("rfc: challenge,\n", "rfc: chalenge,\n").replace(
        "RST: {silence: 300ms, state: CLOSED,", "RST: {silence: 300ms, expect: \". 1:1(0)\", statee: CLOSED,")
    errs = table_errors(write(text))
    assert any("matrix.cells.ESTABLISHED.RST-ACK.rfc: no requirement 'chalenge' in the table "
               "(did you mean 'challenge'?)" in e for e in errs), errs
    assert any("matrix.cells.ESTABLISHED.RST.statee: unknown field 'statee' in a cell (did you mean 'state'?)" in e
               for e in errs), errs
    assert any("exactly one response" in e for e in errs), errs
    assert all(re.match(r"m/table.yaml:\d+:\d+: ", e) for e in errs), errs


def test_not_a_table_but_broken(write: Callable[[str], str]) -> None:
    errs = table_errors(write("matrix: [1, 2]\n"))
    assert errs == ["m/table.yaml:1:9: matrix: matrix must be a mapping (got a list)"]


# --- running --------------------------------------------------------------------------------------


def test_generated_cases_pass_against_the_reference() -> None:
    cases = load_cases([TABLE])
    ref = open_reference()
    result = execute(cases, ref.link, ref.target, get_profile("reference"))
    failed = [f"{c.id}: {c.verdict} {c.reason}" for c in result.cases if c.verdict != "pass"]
    assert not failed
    grid = matrix_summary(result)
    assert grid[0].split() == ["SYN", "SYN-ACK", "ACK", "FIN", "FIN-ACK", "RST", "RST-ACK", "data"]
    assert [line.split()[0] for line in grid[1:11]] == [
        "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",
        "LAST_ACK", "TIME_WAIT"]
    assert grid[7].split() == ["CLOSE_WAIT"] + ["ok"] * 7 + ["-"]
    assert grid[-1].startswith("76 cells: 76 pass")


def test_a_fault_shows_in_the_grid(write: Callable[[str], str]) -> None:
    cases = load_file(write(SMALL))
    ref = open_reference(["rst-any-seq"])
    result = execute(cases, ref.link, ref.target, get_profile("reference"))
    assert {c.id: c.verdict for c in result.cases}["matrix-established-rst-ack"] == "fail"
    failed = next(c for c in result.cases if c.verdict == "fail")
    assert failed.reason.startswith(f"m/table.yaml:{line_of(SMALL, 'RST-ACK: {expect')}:")
    grid = matrix_summary(result.cases)
    assert grid[1:3] == ["LISTEN       ok    -", "ESTABLISHED  ok    FAIL"]


def test_summary_ignores_other_cases() -> None:
    other = CaseResult("seed-handshake", "t", "f", 1, "seed", "MUST", [], verdict="pass")
    assert matrix_summary([other]) == []
    named_like_one = CaseResult("matrix-listen-syn", "t", "f", 1, "x", "MUST", [], verdict="pass")
    assert matrix_summary([named_like_one]) == []  # the grid reads the cell, never the id
    cell = CaseResult("c", "t", "f", 1, "x", "MUST", [], verdict="fail", matrix_cell=("LISTEN", "Probe"))
    assert matrix_summary([cell])[:2] == ["        Probe", "LISTEN  FAIL"]
    assert case_id("SYN_RCVD", "SYN-ACK") == "matrix-syn-rcvd-syn-ack"


def test_a_wrong_value_is_quoted_as_the_schema_quotes_it(write: Callable[[str], str]) -> None:
    errs = table_errors(write(SMALL.replace("values: {snd: 101,", "values: {snd: true,")))
    assert any(e.endswith("matrix.states.ESTABLISHED.values.snd: expected a sequence number 0..2^32-1 (got true)")
               for e in errs), errs
