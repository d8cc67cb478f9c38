"""The ``slow_read: N`` step: a full buffer read 100 bytes at a time; window updates below the receiver's
silly-window threshold fail it, larger ones and none pass, and mistakes are refused at their line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tcpconform.cases.document import CaseFileError
from tcpconform.cases.load import load_case
from tcpconform.cases.model import SlowReadStep
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.run import execute
from tcpconform.targets.reference import open_reference

HEAD = ("id: x\ntitle: x\nrequirements: [{id: r, ref: RFC 9293 3.8.6.2.2, level: MUST}]\nno_fault: test\n"
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


def test_the_step_reads_its_total_and_modifiers(tmp_path: Path) -> None:
    step = load_case(write(tmp_path, HANDSHAKE + "  - slow_read: 2000\n    within: 2s\n")).steps[-1]
    assert step == SlowReadStep(step.loc, step.text, 2000, 2.0, None)


@pytest.mark.parametrize("ipv6", [False, True])
def test_an_update_once_the_opening_is_large_passes(tmp_path: Path, ipv6: bool) -> None:
    """The responder announces its window once 1500 octets were read (past min(65535 / 2, 1460))."""
    case = run(write(tmp_path, HANDSHAKE + "  - fill_window: 1000000\n  - slow_read: 2000\n"), ipv6=ipv6)
    assert case.verdict == "pass", case.reason
    assert (case.figures["window_updates"], case.figures["smallest_window_update"]) == (1, 1500)


def test_no_update_at_all_passes(tmp_path: Path) -> None:
    case = run(write(tmp_path, HANDSHAKE + "  - fill_window: 1000000\n  - slow_read: 1000\n"))
    assert case.verdict == "pass", case.reason
    assert case.figures["window_updates"] == 0 and "smallest_window_update" not in case.figures


def test_an_update_per_read_fails_at_the_first(tmp_path: Path) -> None:
    case = run(write(tmp_path, HANDSHAKE + "  - fill_window: 1000000\n  - slow_read: 1000\n"), ("sws-receiver",))
    assert case.verdict == "fail"
    assert "a window update opened the window by 100 octets after the application had read 100" in case.reason
    assert "at least 472 here" in case.reason


def test_the_bytes_read_must_be_the_stream(tmp_path: Path) -> None:
    """Reading more than was ever sent: the read falls short and fails."""
    case = run(write(tmp_path, HANDSHAKE + '  - send: "P. 1:101(100) ack 101"\n  - slow_read: 200\n'))
    assert case.verdict == "fail" and "the application read 0 of 100 bytes" in case.reason


def test_a_threshold_no_larger_than_a_piece_is_the_cases_mistake(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(HEAD.replace("mss: 512", "mss: 120") + HANDSHAKE.replace("<mss 512>", "<mss 120>")
                    + "  - fill_window: 1000000\n  - slow_read: 1000\n")
    case = run(path)
    assert case.verdict == "error" and "no larger than a read of 100" in case.reason


@pytest.mark.parametrize("value", ["0", "ten", "16777217", "true"])
def test_a_bad_total_is_refused_at_its_line(tmp_path: Path, value: str) -> None:
    with pytest.raises(CaseFileError) as info:
        load_case(write(tmp_path, HANDSHAKE + f"  - slow_read: {value}\n"))
    found = [f"{e.line}: {e.message}" for e in info.value.errors]
    assert len(found) == 1 and found[0].startswith("12: "), found
