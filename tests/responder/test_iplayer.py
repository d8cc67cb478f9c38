"""The responder's IP layer (RFC 9293 3.9.2, 3.9.2.3; RFC 1122 3.2.1.3; RFC 8200 4.2): what it
discards before TCP, what it passes on, and the faults that get it wrong.  As in ``test_faults``:
every check runs with and without its fault and returns what it observed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.responder import IP as TARGET
from support.responder import PORT, F, Peer, agent_config

from tcpconform.responder import Responder
from tcpconform.tcp.ip import IpHeader, invalid_source

V6_TARGET, V6_PEER = "2001:db8::2", "2001:db8::1"


def _listening(faults: set[str], ip: str = TARGET) -> Peer:
    r = Responder(agent_config(faults=frozenset(faults), ip=ip))
    r.app_listen(PORT, 0.0)
    return Peer(r, seq=0, ack=101)


def _answers(faults: set[str], **change: object) -> list[str]:
    p = _listening(faults)
    return [s.flags.tcpdump() for s in p.send(p.segment(F.SYN, seq=0).with_(**change))]


def _established(faults: set[str]) -> Peer:
    p = _listening(faults)
    p.send(p.segment(F.SYN, seq=0))
    p.seq = 1
    p.send(p.segment(F.ACK))
    return p


def options_acked(faults: set[str]) -> object:
    """10 bytes behind IPv4 options (NOP, an empty timestamp, kind 30): the ACK it draws."""
    p = _established(faults)
    seg = p.segment(F.PSH | F.ACK, payload=bytes(10)).with_(ip=IpHeader(options=bytes([1, 68, 12, 5, 0, *bytes(8), 30, 2])))
    p.send(seg)
    return [(s.flags.tcpdump(), s.ack) for s in p.tick(1.0)]


def martian_answered(faults: set[str]) -> object:
    return [_answers(faults, src=src) for src in ("0.0.0.0", "127.0.0.1", "255.255.255.255", "224.0.0.1", "192.0.2.255")]


def land_answered(faults: set[str]) -> object:
    return _answers(faults, src=TARGET, sport=PORT)


def broadcast_answered(faults: set[str]) -> object:
    return [_answers(faults, dst=dst) for dst in ("255.255.255.255", "224.0.0.1", "192.0.2.255")]


def _set_and_write(faults: set[str], name: str) -> object:
    """The IP fields of the segment written after the application set ``name`` to 7."""
    p = _established(faults)
    p.r.app_setsockopt(p.key, name, 40 if "TOS" in name else 7, p.now)
    p.r.app_write(p.key, bytes(10), p.now)
    return [s.ip for s in p.drain()]


def ttl_followed(faults: set[str]) -> object:
    return _set_and_write(faults, "IP_TTL")


def tos_followed(faults: set[str]) -> object:
    return _set_and_write(faults, "IP_TOS")


IP_CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "ip-options-drop": (options_acked, [], [(".", 11)]),
    "martian-syn-answered": (martian_answered, [["S."]] * 5, [[]] * 5),
    "land-wedges": (land_answered, ["S."], []),
    "broadcast-syn-answered": (broadcast_answered, [["S."]] * 3, [[]] * 3),
    "ttl-ignored": (ttl_followed, [None], [IpHeader(ttl=7)]),
    "tos-ignored": (tos_followed, [None], [IpHeader(tos=40)]),
}


def test_the_ip_options_take_their_ranges_and_tos_keeps_its_ecn_bits_for_tcp() -> None:
    from tcpconform.responder.sockopts import SocketOptions, UnsupportedOption
    options = SocketOptions()
    options.set("IPV6_TCLASS", 0x2B)
    options.set("IPV6_UNICAST_HOPS", 255)
    assert (options.tos, options.ttl) == (0x28, 255)
    for name, value in (("IP_TTL", 0), ("IP_TTL", 256), ("IP_TOS", 256)):
        with pytest.raises(UnsupportedOption):
            options.set(name, value)


@pytest.mark.parametrize("fault", sorted(IP_CHECKS))
def test_fault_changes_what_the_ip_layer_lets_through(fault: str) -> None:
    check, faulty, correct = IP_CHECKS[fault]
    assert check({fault}) == faulty
    assert check(set()) == correct


def _v6(faults: set[str], dest: bytes) -> list[tuple[str, int]]:
    p = _listening(faults, ip=V6_TARGET)
    syn = p.segment(F.SYN, seq=0).with_(src=V6_PEER, dst=V6_TARGET)
    p.send(syn)
    p.seq = 1
    p.send(p.segment(F.ACK).with_(src=V6_PEER, dst=V6_TARGET))
    data = p.segment(F.PSH | F.ACK, payload=bytes(10)).with_(src=V6_PEER, dst=V6_TARGET, ip=IpHeader(dest_options=dest))
    p.send(data)
    return [(s.flags.tcpdump(), s.ack) for s in p.tick(1.0)]


def test_an_unknown_destination_option_is_skipped_or_discards_as_its_action_bits_say() -> None:
    assert _v6(set(), bytes([0x1E, 2, 0, 0])) == [(".", 11)]  # 00: skip over it
    assert _v6(set(), bytes([0x5E, 2, 0, 0])) == []  # 01: discard the packet
    assert _v6(set(), bytes([0x9E, 2, 0, 0])) == []  # 10: discard (and an ICMP Parameter Problem, not sent)
    assert _v6({"ip-options-drop"}, bytes([0x1E, 2, 0, 0])) == []


def test_any_segment_from_an_invalid_source_is_dropped_with_the_reason() -> None:
    p = _established(set())
    seg = p.segment(F.PSH | F.ACK, payload=bytes(10)).with_(src="127.0.0.1")
    assert p.send(seg) == [] and p.tick(1.0) == []
    assert "loopback" in p.r.dropped[-1][1]


@pytest.mark.parametrize(("address", "why"), [
    ("0.0.0.0", "unspecified"), ("0.1.2.3", "unspecified"), ("127.0.0.1", "loopback"), ("127.9.9.9", "loopback"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "class E"), ("192.0.2.255", "subnet's broadcast"),
    ("::", "unspecified"), ("::1", "loopback"), ("ff02::1", "multicast"),
    (TARGET, "own address"), ("192.0.2.1", None), ("2001:db8::1", None),
])
def test_invalid_sources(address: str, why: str | None) -> None:
    got = invalid_source(address, TARGET)
    assert (got is None) if why is None else (got is not None and why in got)


def test_a_segment_for_another_unicast_address_is_ignored_even_with_the_broadcast_fault() -> None:
    assert _answers({"broadcast-syn-answered"}, dst="192.0.2.99") == []
