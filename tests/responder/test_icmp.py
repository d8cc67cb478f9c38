"""ICMP errors: their bytes (against Scapy's reading), the reference responder's handling of them, and
the faults that make it mishandle them.  As in ``test_faults``: every check runs with and without its
fault and returns what it observed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, IPerror, TCPerror
from scapy.layers.inet6 import IPerror6, IPv6
from scapy.layers.l2 import Ether
from support.responder import IP as TARGET
from support.responder import PEER_IP, PEER_PORT, PORT, F, Peer, agent_config, show

from tcpconform.responder import Responder
from tcpconform.tcp.icmp import KINDS, IcmpError, path_mss
from tcpconform.tcp.segment import FourTuple, Segment
from tcpconform.tcp.states import State
from tcpconform.wire.icmp import QUOTE_LIMIT, encode_icmp, parse_icmp


class Peer6(Peer):
    """The tester's side over IPv6."""

    @property
    def key(self) -> FourTuple:
        return FourTuple("2001:db8::2", PORT, "2001:db8::1", PEER_PORT)


def _established(faults: set[str], mss: int = 1400, ipv6: bool = False) -> Peer:
    cfg = agent_config(faults=frozenset(faults), ip="2001:db8::2" if ipv6 else TARGET)
    r = Responder(cfg)
    r.app_listen(PORT, 0.0)
    p = (Peer6 if ipv6 else Peer)(r, seq=0, ack=101)
    p.window = 8000
    p.send(_from(p, p.segment(F.SYN, seq=0, options=(("MSS", mss),)), ipv6))
    p.seq = 1
    p.send(_from(p, p.segment(F.ACK), ipv6))
    return p


def _from(p: Peer, seg: Segment, ipv6: bool) -> Segment:
    return seg.with_(src="2001:db8::1", dst="2001:db8::2") if ipv6 else seg


def _error(p: Peer, kind: str, quoted: Segment, mtu: int = 0, offset: int = 0) -> list[Segment]:
    quoted = quoted.with_(seq=(quoted.seq + offset) & 0xFFFFFFFF)
    p.r.handle_icmp(IcmpError(quoted.dst, quoted.src, kind, quoted, mtu), p.now)
    return p.drain()


def _written(p: Peer, n: int) -> list[Segment]:
    p.r.app_write(p.key, bytes(n), p.now)
    return p.drain()


def pmtu_ignored(faults: set[str]) -> object:
    p = _established(faults)
    first = _written(p, 1000)
    again = _error(p, "frag-needed", first[0], mtu=552)
    return [len(s.payload) for s in again]


def soft_error_aborts(faults: set[str]) -> object:
    p = _established(faults)
    first = _written(p, 100)
    _error(p, "host-unreachable", first[0])
    return p.r.state(p.key)


def source_quench_slows(faults: set[str]) -> object:
    p = _established(faults, mss=500)
    p.window = 500
    p.send(p.segment(F.ACK))
    first = _written(p, 1500)
    _error(p, "source-quench", first[0])
    p.window = 8000
    return show(p.send(p.segment(F.ACK)))  # a window update acknowledging nothing new


def icmp_blind_accepted(faults: set[str]) -> object:
    p = _established(faults)
    first = _written(p, 1000)
    _error(p, "frag-needed", first[0], mtu=552, offset=100_000)
    p.ack = 1101
    p.send(p.segment(F.ACK))
    return [len(s.payload) for s in _written(p, 1000)]


def icmp_hard_ignored(faults: set[str]) -> object:
    """A port unreachable about the SYN of an active open: CLOSED, and no SYN after it."""
    r = Responder(agent_config(faults=frozenset(faults)))
    key = FourTuple(TARGET, PORT, PEER_IP, PEER_PORT)
    r.app_connect(key, 0.0)
    p = Peer(r, seq=0, ack=101)
    syn = p.drain()[0]
    _error(p, "port-unreachable", syn)
    state = r.state(key)
    return state, show([s for _, s in p.run_timers_until(5.0)])[:1]


ICMP_CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "pmtu-ignored": (pmtu_ignored, [], [512, 488]),
    "soft-error-aborts": (soft_error_aborts, State.CLOSED, State.ESTABLISHED),
    "source-quench-slows": (source_quench_slows, [], [". 601 1 len=500", "P. 1101 1 len=500"]),
    "icmp-blind-accepted": (icmp_blind_accepted, [512, 488], [1000]),
    "icmp-hard-ignored": (icmp_hard_ignored, (State.SYN_SENT, ["S 100"]), (State.CLOSED, [])),
}
"""fault -> (check, observed with the fault, observed without it)."""


@pytest.mark.parametrize("fault", sorted(ICMP_CHECKS))
def test_icmp_fault_changes_what_it_claims(fault: str) -> None:
    check, faulty, correct = ICMP_CHECKS[fault]
    assert check({fault}) == faulty
    assert check(set()) == correct


def test_packet_too_big_cuts_the_data_in_flight_and_what_follows() -> None:
    p = _established(set(), ipv6=True)
    first = _written(p, 1400)
    assert [len(s.payload) for s in first] == [1400]
    assert [(s.seq, len(s.payload)) for s in _error(p, "packet-too-big", first[0], mtu=1280)] == [(101, 1220), (1321, 180)]
    p.ack = 1501
    p.send(_from(p, p.segment(F.ACK), True))
    assert [len(s.payload) for s in _written(p, 1400)] == [1220, 180]


def test_packet_too_big_below_the_ipv6_minimum_and_in_syn_rcvd_change_nothing() -> None:
    p = _established(set(), ipv6=True)
    first = _written(p, 1400)
    assert _error(p, "packet-too-big", first[0], mtu=1000) == []
    r = Responder(agent_config())
    r.app_listen(PORT, 0.0)
    q = Peer(r, seq=0, ack=101)
    synack = q.send(q.segment(F.SYN, seq=0))[0]
    assert _error(q, "frag-needed", synack, mtu=552) == [] and r.state(q.key) is State.SYN_RCVD


def test_hard_errors_end_a_passive_open_but_not_an_established_connection() -> None:
    r = Responder(agent_config())
    r.app_listen(PORT, 0.0)
    q = Peer(r, seq=0, ack=101)
    synack = q.send(q.segment(F.SYN, seq=0))[0]
    _error(q, "port-unreachable", synack)
    assert r.state(q.key) is State.LISTEN
    p = _established(set())
    first = _written(p, 100)
    for kind in ("port-unreachable", "proto-unreachable", "net-unreachable", "time-exceeded", "parameter-problem"):
        _error(p, kind, first[0])
    assert p.r.state(p.key) is State.ESTABLISHED


def test_an_error_about_no_connection_of_ours_is_ignored() -> None:
    p = _established({"soft-error-aborts"})
    first = _written(p, 100)
    for other in (first[0].with_(sport=PORT + 1), first[0].with_(src="192.0.2.99")):
        _error(p, "host-unreachable", other)
    assert p.r.state(p.key) is State.ESTABLISHED


# -- the bytes -------------------------------------------------------------------------------------
SEG4 = Segment(TARGET, PEER_IP, PORT, 40000, seq=1000, ack=7, flags=F.ACK | F.PSH, window=100, payload=bytes(1000))
SEG6 = SEG4.with_(src="2001:db8::2", dst="2001:db8::1")


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("ipv6", [False, True])
def test_every_kind_is_what_scapy_reads_and_reads_back(kind: str, ipv6: bool) -> None:
    seg = SEG6 if ipv6 else SEG4
    if (KINDS[kind].v6 if ipv6 else KINDS[kind].v4) is None:
        with pytest.raises(ValueError, match="only in ICMPv4"):
            encode_icmp(IcmpError(seg.dst, seg.src, kind, seg))
        return
    msg = IcmpError(seg.dst, seg.src, kind, seg, 1280 if KINDS[kind].effect == "pmtu" else 0)
    frame = encode_icmp(msg)
    pkt = Ether(frame)
    assert (pkt[IPv6 if ipv6 else IP].src, pkt[IPv6 if ipv6 else IP].dst) == (msg.src, msg.dst)
    inner = pkt[IPerror6 if ipv6 else IPerror]
    assert (inner.src, inner.dst, pkt[TCPerror].sport, pkt[TCPerror].seq) == (seg.src, seg.dst, PORT, 1000)
    assert len(frame) - 14 <= (1280 if ipv6 else 576)
    if not ipv6:
        icmp = pkt[ICMP]
        assert (icmp.type, icmp.code) == KINDS[kind].v4
        sent = icmp.chksum
        del icmp.chksum
        assert Ether(bytes(pkt))[ICMP].chksum == sent
    back = parse_icmp(frame)
    assert back is not None and back.quoted.seq == 1000 and back.mtu == msg.mtu and back.type_code == msg.type_code


@given(st.integers(0, 2000), st.integers(68, 65535), st.booleans())
def test_quotes_are_bounded_and_read_back(length: int, mtu: int, ipv6: bool) -> None:
    seg = (SEG6 if ipv6 else SEG4).with_(payload=bytes(range(256)) * (length // 256) + bytes(length % 256))
    frame = encode_icmp(IcmpError(seg.dst, seg.src, "packet-too-big", seg, mtu))
    back = parse_icmp(frame)
    assert back is not None and back.mtu == mtu and back.quoted.with_(payload=b"") == seg.with_(payload=b"")
    header = 60 if ipv6 else 40
    assert back.quoted.payload == seg.payload[:QUOTE_LIMIT[ipv6] - header]
    assert parse_icmp(frame[:-1] + bytes([frame[-1] ^ 1])) is None  # a wrong checksum is no error message


def test_path_mss_keeps_to_the_floors() -> None:
    assert (path_mss(576, False), path_mss(300, False), path_mss(1280, True), path_mss(1000, True)) == (536, 512, 1220, 1220)
