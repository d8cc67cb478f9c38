"""The ``flight: N`` step: new data counted until the target is quiet, retransmissions passing, more
than N failing at the one too many, nothing at all failing, and mistakes refused at their line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tcpconform.cases.document import CaseFileError
from tcpconform.cases.load import load_case
from tcpconform.cases.model import FlightStep
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.run import execute
from tcpconform.responder.config import ResponderConfig
from tcpconform.targets.reference import open_reference

HEAD = ("id: x\ntitle: x\nrequirements: [{id: r, ref: RFC 5681 3.1, level: SHOULD}]\nno_fault: test\n"
        "tester: {window: 65535, mss: 512}\nsteps:\n")
HANDSHAKE = ('  - app: listen\n  - send: "S 0:0(0) win 65535 <mss 512>"\n  - expect: "S. 0:0(0) ack 1"\n'
             '  - send: ". 1:1(0) ack 1 win 65535"\n')


def write(tmp_path: Path, steps: str) -> Path:
    path = tmp_path / "x.yaml"
    path.write_text(HEAD + steps)
    return path


def run(path: Path, **config: Any) -> Any:
    ref = open_reference(ResponderConfig(**config)) if config else open_reference()
    return execute([load_case(path)], ref.link, ref.target, get_profile("reference")).cases[0]


def test_the_step_reads_its_bound_and_modifiers(tmp_path: Path) -> None:
    step = load_case(write(tmp_path, HANDSHAKE + "  - flight: 10\n    quiet: 300ms\n    within: 2s\n")).steps[-1]
    assert step == FlightStep(step.loc, step.text, 10, 0.3, 2.0, None)


def test_a_flight_within_the_bound_passes_with_its_figures(tmp_path: Path) -> None:
    case = run(write(tmp_path, HANDSHAKE + "  - app: write 20000\n  - flight: 4\n"))
    assert case.verdict == "pass", case.reason
    assert (case.figures["flight_segments"], case.figures["flight_bytes"]) == (4, 2048)


def test_retransmissions_while_it_waits_are_no_new_data(tmp_path: Path) -> None:
    """A quiet longer than the RTO: the retransmission of the first segment passes, counted as nothing."""
    case = run(write(tmp_path, HANDSHAKE + "  - app: write 20000\n  - flight: 4\n    quiet: 1.5s\n"))
    assert case.verdict == "pass", case.reason
    assert case.figures["flight_segments"] == 4


def test_one_segment_too_many_fails_the_step(tmp_path: Path) -> None:
    case = run(write(tmp_path, HANDSHAKE + "  - app: write 20000\n  - flight: 3\n"))
    assert case.verdict == "fail"
    assert "the target sent 4 segments of new data before any acknowledgment, more than 3" in case.reason


def test_no_data_at_all_fails_the_step(tmp_path: Path) -> None:
    case = run(write(tmp_path, HANDSHAKE + "  - flight: 3\n    within: 200ms\n"))
    assert case.verdict == "fail" and "nothing new arrived" in case.reason


@pytest.mark.parametrize("value", ["0", "ten", "1001", "true"])
def test_a_bad_bound_is_refused_at_its_line(tmp_path: Path, value: str) -> None:
    with pytest.raises(CaseFileError) as info:
        load_case(write(tmp_path, HANDSHAKE + f"  - flight: {value}\n"))
    found = [f"{e.line}: {e.message}" for e in info.value.errors]
    assert len(found) == 1 and found[0].startswith("11: "), found
