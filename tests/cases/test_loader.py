"""Loading valid case files: what each key becomes in the model."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support.cases import BASE, LINE, replace

from tcpconform.cases.build import STEP_BUILDERS
from tcpconform.cases.load import load_case, load_cases
from tcpconform.cases.model import (
    DEFAULT_INVARIANTS,
    INVARIANTS,
    TOLERABLE,
    AppStep,
    ExpectStep,
    Level,
    Numbering,
    SendStep,
    SilenceStep,
    SourceLoc,
    StateStep,
    Var,
    WaitStep,
)
from tcpconform.cases.schema import case_schema
from tcpconform.tcp.segment import Flags
from tcpconform.tcp.states import State

REPO = Path(__file__).resolve().parents[2]


def test_base_case(write_case: Callable[..., str]) -> None:
    path = write_case(BASE)
    case = load_case(path)
    assert (case.id, case.title, case.area) == ("sample", "Sample case", "cases")
    assert case.loc == SourceLoc(path, 1)
    assert [r.id for r in case.requirements] == ["syn-ack", "delack"]
    assert case.requirements[1].rid == "SHLD-18"
    assert case.requirements[1].level is Level.SHOULD
    assert case.level is Level.MUST  # the strongest of the requirements'
    assert case.faults == ("bad-syn-ack",) and case.no_fault is None
    assert (case.tester_window, case.tester_mss) == (5000, 512)
    assert case.numbering == Numbering()
    assert case.invariants == DEFAULT_INVARIANTS
    assert [type(s) for s in case.steps] == [AppStep, SendStep, ExpectStep, SilenceStep, StateStep, WaitStep]
    assert [s.loc.line for s in case.steps] == [LINE[k] for k in ("app", "send", "expect", "silence",
                                                                  "state", "wait")]
    assert all(s.loc.file == path for s in case.steps)


def test_steps(write_case: Callable[..., str]) -> None:
    app, send, expect, silence, state, wait = load_case(write_case(BASE)).steps
    assert isinstance(app, AppStep) and (app.action, app.count) == ("listen", None)
    assert isinstance(send, SendStep) and send.segment.window == 5000
    assert send.text == "send S 0:0(0) win 5000 <mss 512>"
    assert isinstance(expect, ExpectStep)
    assert expect.segment.flags == Flags.SYN | Flags.ACK
    assert (expect.isn, expect.within, expect.requirement) == (Var("isn"), 0.5, "syn-ack")
    assert expect.tolerate == TOLERABLE
    assert expect.text == "expect S. 100:100(0) ack 1 win 65535, isn $isn, within 500ms, rfc syn-ack"
    assert isinstance(silence, SilenceStep) and silence.duration == pytest.approx(0.2)
    assert isinstance(state, StateStep) and state.state == "SYN_RCVD"
    assert isinstance(wait, WaitStep) and wait.duration == pytest.approx(0.1)


def test_optional_keys(write_case: Callable[..., str]) -> None:
    text = replace(BASE, "faults: [bad-syn-ack]\n", """\
no_fault: "nothing in the reference can get this wrong"
area: handshake
level: SHOULD
description: |
  Why this case exists.
numbering: {tester: 7, target: 100}
tolerate: [ack]
invariants: none
needs: [app]
tags: [seed, quick]
""")
    case = load_case(write_case(text))
    assert case.faults == () and case.no_fault == "nothing in the reference can get this wrong"
    assert (case.area, case.level, case.description) == ("handshake", Level.SHOULD, "Why this case exists.")
    assert case.numbering == Numbering(tester=7, target=100)
    assert case.invariants == frozenset()
    assert case.needs == frozenset({"app"}) and case.tags == ("seed", "quick")
    expect, silence = case.steps[2], case.steps[3]
    assert isinstance(expect, ExpectStep) and isinstance(silence, SilenceStep)
    assert expect.tolerate == silence.tolerate == frozenset({"ack"})  # the case's default


@pytest.mark.parametrize(("value", "numbering"), [
    ("relative", Numbering()), ("absolute", Numbering(absolute=True)),
    ("{target: 100}", Numbering(target=100)),
])
def test_numbering(write_case: Callable[..., str], value: str, numbering: Numbering) -> None:
    assert load_case(write_case(BASE + f"numbering: {value}\n")).numbering == numbering


def test_step_tolerate_overrides_the_case(write_case: Callable[..., str]) -> None:
    text = replace(BASE, "    rfc: syn-ack\n", "    rfc: syn-ack\n    tolerate: none\n")
    text = replace(text, "  - silence: 200ms\n", "  - silence: 200ms\n    tolerate: [retransmission]\n")
    expect, silence = load_case(write_case(text + "tolerate: []\n")).steps[2:4]
    assert isinstance(expect, ExpectStep) and expect.tolerate == frozenset()
    assert isinstance(silence, SilenceStep) and silence.tolerate == frozenset({"retransmission"})


def test_app_forms_and_structured_segments(write_case: Callable[..., str]) -> None:
    text = BASE + """\
  - app: read 1024
  - app: {write: 700}
  - app: shutdown
  - send: {flags: PA, seq: 1, ack: 101, len: 3, payload: abc}
  - expect:
      flags: .
      ack: 4
      options: "..."
"""
    steps = load_case(write_case(text)).steps
    apps = [(s.action, s.count) for s in steps if isinstance(s, AppStep)]
    assert apps == [("listen", None), ("read", 1024), ("write", 700), ("shutdown", None)]
    send, expect = steps[-2:]
    assert isinstance(send, SendStep) and send.segment.payload == b"abc" and send.segment.length == 3
    assert send.text == "send P. 1:4(3) ack 101 [payload 616263]"
    assert isinstance(expect, ExpectStep) and expect.segment.text == ". ack 4 <...>"
    assert expect.loc.line == BASE.count("\n") + 5


def test_load_cases_walks_folders_in_path_order(write_case: Callable[..., str]) -> None:
    for name, case_id in [("b/2.yaml", "two"), ("a/1.yml", "one"), ("a/3.yaml", "three"),
                          (".hidden/4.yaml", "four")]:
        write_case(replace(BASE, "id: sample", f"id: {case_id}"), name)
    Path("cases/notes.txt").write_text("not a case")
    cases = load_cases(["cases", "cases/a/1.yml"])  # a file named twice is loaded once
    assert [c.id for c in cases] == ["one", "three", "two"]
    assert [c.area for c in cases] == ["a", "a", "b"]
    assert cases[0].loc.file == str(Path("cases/a/1.yml"))


def test_schema_names_match_the_model() -> None:
    """The schema file lists names the model defines; this keeps the two from drifting apart."""
    props, defs = case_schema()["properties"], case_schema()["$defs"]
    assert set(defs["tolerate"]["oneOf"][1]["items"]["enum"]) == TOLERABLE | {"any"}  # "any": by name only, never a default
    assert set(props["invariants"]["oneOf"][1]["items"]["enum"]) == INVARIANTS
    assert defs["state"]["properties"]["state"]["enum"] == [s.value for s in State]  # the one enum, in order
    assert set(defs["level"]["enum"]) == set(Level.__members__)


def test_every_step_kind_of_the_schema_has_one_builder() -> None:
    """A step kind is a schema entry and a row of STEP_BUILDERS; neither exists without the other."""
    kinds = [ref["$ref"].rsplit("/", 1)[1] for ref in case_schema()["$defs"]["step"]["oneOf"]]
    assert sorted(kinds) == sorted(STEP_BUILDERS)


def test_importing_the_loader_does_not_import_jsonschema() -> None:
    code = "import sys, tcpconform.cases.load; print('jsonschema' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(not (REPO / "testcases").is_dir(), reason="no testcases folder")
def test_the_projects_case_files_load() -> None:
    cases = load_cases([REPO / "testcases"])
    assert cases
    assert len({c.id for c in cases}) == len(cases)


@pytest.mark.skipif(not (REPO / "docs" / "case-format.md").is_file(), reason="no docs")
def test_the_documented_example_loads(write_case: Callable[..., str]) -> None:
    doc = (REPO / "docs" / "case-format.md").read_text(encoding="utf-8")
    example = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    case = load_case(write_case(example))
    assert case.id == "seed-handshake" and len(case.steps) == 6


def test_family_is_read_and_defaults_to_both(tmp_path: Path) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text(BASE)
    six = tmp_path / "six.yaml"
    six.write_text(BASE.replace("id: sample", "id: sample6").replace("faults: [bad-syn-ack]\n",
                                                                       "faults: [bad-syn-ack]\nfamily: ipv6\n"))
    assert [c.family for c in load_cases([plain, six])] == [None, "ipv6"]
