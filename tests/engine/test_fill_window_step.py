"""The ``fill_window: N`` step: the target's window filled until it offers zero, ``$fill_end`` its RCV.NXT,
a window that never closes skipped, no acknowledgment failing, and mistakes refused at their line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tcpconform.cases.document import CaseFileError
from tcpconform.cases.load import load_case
from tcpconform.cases.model import FillWindowStep
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.run import execute
from tcpconform.targets.reference import open_reference

HEAD = ("id: x\ntitle: x\nrequirements: [{id: r, ref: RFC 9293 3.4, level: MUST}]\nno_fault: test\n"
        "numbering: {tester: 0, target: 100}\ntester: {window: 5000, mss: 512}\nsteps:\n")
HANDSHAKE = ('  - app: listen\n  - send: "S 0:0(0) win 5000 <mss 512>"\n  - expect: "S. 100:100(0) ack 1"\n'
             '  - send: ". 1:1(0) ack 101 win 5000"\n')


def write(tmp_path: Path, steps: str) -> Path:
    path = tmp_path / "x.yaml"
    path.write_text(HEAD + steps)
    return path


def run(path: Path, faults: tuple[str, ...] = (), ipv6: bool = False) -> Any:
    ref = open_reference(faults, ipv6=ipv6)
    return execute([load_case(path)], ref.link, ref.target, get_profile("reference")).cases[0]


def test_the_step_reads_its_bound_and_modifiers(tmp_path: Path) -> None:
    step = load_case(write(tmp_path, HANDSHAKE + "  - fill_window: 100000\n    within: 2s\n")).steps[-1]
    assert step == FillWindowStep(step.loc, step.text, 100000, 2.0, None)


def test_the_window_closes_and_fill_end_is_rcv_nxt(tmp_path: Path) -> None:
    """The responder's 65535-byte buffer fills; a byte at $fill_end is refused with an ACK of $fill_end, window 0;
    what was taken is the tester's stream, in order."""
    steps = (HANDSHAKE + "  - fill_window: 1000000\n"
             '  - send: "P. $fill_end:$fill_end+1(1) ack 101"\n'
             '  - expect: ". 101:101(0) ack $fill_end win 0"\n    tolerate: []\n'
             "  - app: read 65535\n")
    case = run(write(tmp_path, steps))
    assert case.verdict == "pass", case.reason
    assert case.figures["fill_bytes"] == 65535


def test_over_ipv6_too(tmp_path: Path) -> None:
    case = run(write(tmp_path, HANDSHAKE + "  - fill_window: 1000000\n"), ipv6=True)
    assert case.verdict == "pass", case.reason
    assert case.figures["fill_bytes"] == 65535


def test_a_window_still_open_after_the_bound_skips_the_case(tmp_path: Path) -> None:
    case = run(write(tmp_path, HANDSHAKE + "  - fill_window: 1000\n"))
    assert case.verdict == "skip"
    assert "the target's window never closed: after 1000 bytes sent" in case.reason


def test_no_acknowledgment_fails_the_step(tmp_path: Path) -> None:
    """Under slow-ack the first ACK comes after 600 ms: past a 100 ms bound."""
    case = run(write(tmp_path, HANDSHAKE + "  - fill_window: 1000\n    within: 100ms\n"), ("slow-ack",))
    assert case.verdict == "fail"
    assert "acknowledged none of the data sent into its window within 100 ms" in case.reason


@pytest.mark.parametrize("value", ["0", "ten", "16777217", "true"])
def test_a_bad_bound_is_refused_at_its_line(tmp_path: Path, value: str) -> None:
    with pytest.raises(CaseFileError) as info:
        load_case(write(tmp_path, HANDSHAKE + f"  - fill_window: {value}\n"))
    found = [f"{e.line}: {e.message}" for e in info.value.errors]
    assert len(found) == 1 and found[0].startswith("12: "), found
