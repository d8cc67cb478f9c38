"""The ``source_route`` key of a send's and an expect's ``ip`` modifier: what it reads into, and
each mistake reported at its file, line and field."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.cases import BASE, LINE, errors, replace

from tcpconform.cases.load import load_cases
from tcpconform.cases.model import ExpectStep, IpExpect, SendStep

F = "cases/x.yaml"
SEND = '  - send: "S 0:0(0) win 5000 <mss 512>"'
Write = Callable[..., str]


def _with_ip(ip: str) -> str:
    return replace(BASE, SEND, f"{SEND}\n    ip: {ip}")


def test_a_send_and_an_expect_read_their_routes(write_case: Write) -> None:
    path = write_case(replace(_with_ip('{options: [nop], source_route: ["198.51.100.1", tester]}'), "    within: 500ms",
                              '    within: 500ms\n    ip: {source_route: ["198.51.100.1", tester]}'))
    steps = load_cases([path])[0].steps
    send = next(s for s in steps if isinstance(s, SendStep))
    assert send.ip is not None and send.ip.source_route == ("198.51.100.1", "tester") and send.ip.options == b"\x01"
    expect = next(s for s in steps if isinstance(s, ExpectStep))
    assert expect.ip == IpExpect(source_route=("198.51.100.1", "tester"))


@pytest.mark.parametrize(("ip", "field", "message"), [
    ("{source_route: [tester, peer]}", "ip.source_route[1]", "'peer' is neither an IPv4 address nor one of tester, target"),
    ('{source_route: ["2001:db8::1"]}', "ip.source_route[0]", "neither an IPv4 address"),
    ("{source_route: []}", "ip.source_route", ""),
    ("{options: [timestamp, timestamp, timestamp], source_route: [tester, tester]}", "ip.source_route",
     "the options and a route over 2 hop(s) take 47 bytes; the header holds at most 40"),
])
def test_mistakes_name_file_line_and_field(write_case: Write, ip: str, field: str, message: str) -> None:
    found = errors(write_case(_with_ip(ip)))
    assert len(found) == 1, found
    assert found[0].startswith(f"{F}:{LINE['send'] + 1}:"), found
    assert f"steps[1].{field}: " in found[0] and message in found[0], found


def test_an_expect_route_mistake_is_reported_at_its_step(write_case: Write) -> None:
    found = errors(write_case(replace(BASE, "    within: 500ms", "    within: 500ms\n    ip: {source_route: [somewhere]}")))
    assert len(found) == 1 and "steps[2].ip.source_route[0]" in found[0] and "somewhere" in found[0], found
