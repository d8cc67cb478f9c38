"""A send step's ``ip`` modifier: what it reads into, and each mistake reported at its line."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.cases import BASE, LINE, errors, replace

from tcpconform.cases.load import load_cases
from tcpconform.cases.model import ExpectStep, IpExpect, IpSpec, SendStep

F = "cases/x.yaml"
SEND = '  - send: "S 0:0(0) win 5000 <mss 512>"'
Write = Callable[..., str]


def _with_ip(ip: str) -> str:
    return replace(BASE, SEND, f"{SEND}\n    ip: {ip}")


def test_the_modifier_reads_into_wire_bytes(write_case: Write) -> None:
    path = write_case(_with_ip('{src: loopback, sport: target, ttl: 7, tos: 32, options: [nop, timestamp, '
                               '{kind: 30, data: "0000"}, end], dest_options: [padn, {type: 0x1e, data: "00"}]}'))
    step = next(s for s in load_cases([path])[0].steps if isinstance(s, SendStep))
    assert step.ip == IpSpec(src="loopback", sport="target", ttl=7, tos=32,
                             options=bytes([1, 68, 12, 5, 0, *bytes(8), 30, 4, 0, 0, 0]),
                             dest_options=bytes([1, 0, 0x1E, 1, 0]))
    assert "ip {src: loopback" in step.text


def test_record_route_and_a_literal_address(write_case: Write) -> None:
    path = write_case(_with_ip("{dst: 224.0.0.1, options: [record-route]}"))
    step = next(s for s in load_cases([path])[0].steps if isinstance(s, SendStep))
    assert step.ip == IpSpec(dst="224.0.0.1", options=bytes([7, 11, 4, *bytes(8)]))


@pytest.mark.parametrize(("ip", "field", "message"), [
    ("{src: localhost}", "ip.src", "'localhost' is neither an address nor one of target, loopback"),
    ("{options: [timestamps]}", "ip.options[0]", "unknown item 'timestamps' (known: nop, end, timestamp"),
    ('{options: [{kind: 30, data: "xyz"}]}', "ip.options[0].data", "data must be hex digits, not 'xyz'"),
    ("{dest_options: [nop]}", "ip.dest_options[0]", "unknown item 'nop' (known: pad1, padn"),
    ("{options: [timestamp, timestamp, timestamp, timestamp]}", "ip.options",
     "the options take 48 bytes; their header holds at most 40"),
    ("{ttl: 256}", "ip.ttl", ""),
    ("{sport: 80}", "ip.sport", ""),
    ("{srcc: loopback}", "ip.srcc", "unknown field 'srcc' (did you mean 'src'?)"),
])
def test_mistakes_name_file_line_and_field(write_case: Write, ip: str, field: str, message: str) -> None:
    found = errors(write_case(_with_ip(ip)))
    assert len(found) == 1, found
    assert found[0].startswith(f"{F}:{LINE['send'] + 1}:"), found
    assert f"steps[1].{field}: " in found[0] and message in found[0], found


def test_an_expect_takes_only_ttl_and_tos(write_case: Write) -> None:
    path = write_case(replace(BASE, "    within: 500ms", "    within: 500ms\n    ip: {ttl: 7, tos: 40}"))
    step = next(s for s in load_cases([path])[0].steps if isinstance(s, ExpectStep))
    assert step.ip == IpExpect(ttl=7, tos=40)
    found = errors(write_case(replace(BASE, "    within: 500ms", "    within: 500ms\n    ip: {src: loopback}")))
    assert len(found) == 1 and "steps[2].ip.src" in found[0], found


def test_the_modifier_belongs_to_send_and_expect_steps_only(write_case: Write) -> None:
    found = errors(write_case(replace(BASE, "  - silence: 200ms", "  - silence: 200ms\n    ip: {ttl: 7}")))
    assert len(found) == 1 and "steps[3].ip" in found[0], found


@pytest.mark.parametrize("ip", ['{src: 7, options: [{kind: "30"}, 5], dest_options: nop, ttl: x}',
                                "{options: [{kind: 300}], dest_options: [{type: -1, data: 7}], sport: 9}", "[1, 2]"])
def test_values_of_the_wrong_type_are_the_schemas_to_report_not_a_crash(write_case: Write, ip: str) -> None:
    found = errors(write_case(_with_ip(ip)))
    assert found and all(f.startswith(f"{F}:") and "steps[1].ip" in f for f in found), found
