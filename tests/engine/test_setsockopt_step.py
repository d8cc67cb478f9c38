"""The ``app: setsockopt NAME VALUE`` step: read from a case file, applied where the case is, and a
target without the option skips the case with the reason (never fails it, never passes it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tcpconform.cases.document import CaseFileError
from tcpconform.cases.load import load_case
from tcpconform.cases.model import AppStep, SockOpt
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.run import execute
from tcpconform.targets.agent.protocol import Unsupported, dispatch
from tcpconform.targets.reference import open_reference
from tcpconform.tcp.segment import FourTuple
from tcpconform.tcp.sockopts import SOCKET_OPTIONS, level_of

HEAD = ("id: x\ntitle: x\nrequirements: [{id: r, ref: RFC 9293 3.7.4, level: MUST}]\nno_fault: test\n"
        "tester: {window: 5000, mss: 512}\nsteps:\n")
HANDSHAKE = ('  - app: listen\n  - send: "S 0:0(0) win 5000 <mss 512>"\n  - expect: "S. 0:0(0) ack 1"\n'
             '  - send: ". 1:1(0) ack 1 win 5000"\n')


def write(tmp_path: Path, steps: str) -> Path:
    path = tmp_path / "x.yaml"
    path.write_text(HEAD + steps)
    return path


def messages(path: Path) -> list[str]:
    with pytest.raises(CaseFileError) as info:
        load_case(path)
    return [e.message for e in info.value.errors]


def test_the_step_reads_name_and_value(tmp_path: Path) -> None:
    case = load_case(write(tmp_path, HANDSHAKE + "  - app: setsockopt TCP_NODELAY 1\n"))
    step = case.steps[-1]
    assert isinstance(step, AppStep) and step.action == "setsockopt" and step.sockopt == SockOpt("TCP_NODELAY", 1)


@pytest.mark.parametrize(("text", "message"), [
    ("setsockopt TCP_NODELEY 1", "unknown socket option 'TCP_NODELEY' (did you mean 'TCP_NODELAY'?)"),
    ("setsockopt TCP_NODELAY", "setsockopt takes an option name and an integer value"),
    ("setsockopt TCP_KEEPIDLE -5", "the value of TCP_KEEPIDLE is an integer from 0 to 2,147,483,647"),
    ("setsockopt TCP_KEEPIDLE 99999999999", "the value of TCP_KEEPIDLE is an integer from 0 to 2,147,483,647"),
])
def test_mistakes_are_refused_at_their_line(tmp_path: Path, text: str, message: str) -> None:
    found = messages(write(tmp_path, f"  - app: {text}\n"))
    assert len(found) == 1 and message in found[0], found


def test_every_option_has_a_level_an_agent_knows() -> None:
    assert {level_of(name) for name in SOCKET_OPTIONS} == {"SOL_SOCKET", "IPPROTO_TCP", "IPPROTO_IP", "IPPROTO_IPV6"}


def run(path: Path) -> Any:
    ref = open_reference()
    return execute([load_case(path)], ref.link, ref.target, get_profile("reference")).cases[0]


def test_an_option_the_target_lacks_skips_the_case_with_the_reason(tmp_path: Path) -> None:
    case = run(write(tmp_path, HANDSHAKE + "  - app: setsockopt SO_SNDBUF 8192\n  - silence: 1s\n"))
    assert case.verdict == "skip"
    assert "cannot set SO_SNDBUF 8192: the reference responder has no socket option SO_SNDBUF" in case.reason


def test_a_value_the_target_refuses_skips_the_case(tmp_path: Path) -> None:
    case = run(write(tmp_path, HANDSHAKE + "  - app: setsockopt TCP_KEEPIDLE 0\n  - silence: 1s\n"))
    assert case.verdict == "skip" and "TCP_KEEPIDLE takes 1..32767, not 0" in case.reason


def test_before_the_handshake_the_option_goes_on_the_listener(tmp_path: Path) -> None:
    """Set on the listening socket, TCP_NODELAY reaches the connection accepted from it."""
    steps = ('  - app: listen\n  - app: setsockopt TCP_NODELAY 1\n  - send: "S 0:0(0) win 5000 <mss 512>"\n'
             '  - expect: "S. 0:0(0) ack 1"\n  - send: ". 1:1(0) ack 1 win 5000"\n'
             '  - app: write 10\n  - expect: "P. 1:11(10) ack 1"\n'
             '  - app: write 10\n  - expect: "P. 11:21(10) ack 1"\n    within: 100ms\n')
    assert run(write(tmp_path, steps)).verdict == "pass"


class _Lacking:
    def setsockopt(self, key_or_port: FourTuple | int, level: str, name: str, value: int) -> None:
        raise Unsupported(f"no option {name}")


def test_the_agent_protocol_answers_a_missing_option_with_kind_unsupported() -> None:
    answer = dispatch(_Lacking(), {"id": 3, "op": "setsockopt", "port": 8000, "level": "IPPROTO_TCP",  # type: ignore[arg-type]
                                   "name": "TCP_KEEPIDLE", "value": 5})
    assert answer == {"id": 3, "ok": False, "kind": "unsupported", "error": "no option TCP_KEEPIDLE"}
