"""The responder as a multihomed host (RFC 9293 3.9.1.1): each connection keeps the local address
it began on, an active open binds the address it is given, one to a group address is refused; and
the faults that get it wrong.  As in ``test_faults``: every check runs with and without its fault
and returns what it observed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.responder import IP, PEER_IP, PEER_PORT, PORT, F, Peer, agent_config

from tcpconform.responder import Responder, ResponderConfig, ResponderError
from tcpconform.tcp.segment import FourTuple

ALT = "192.0.2.3"


def _responder(faults: set[str]) -> Responder:
    return Responder(agent_config(faults=frozenset(faults), alt_ip=ALT))


def sources_on_second(faults: set[str]) -> object:
    """The source of each segment the host sends on a connection opened to its second address."""
    r = _responder(faults)
    r.app_listen(PORT, 0.0)
    p = Peer(r, seq=0, ack=0)
    out = p.send(p.segment(F.SYN, seq=0).with_(dst=ALT))
    p.seq, p.ack = 1, (out[0].seq + 1) & 0xFFFFFFFF
    p.send(p.segment(F.ACK).with_(dst=ALT))
    key = FourTuple(ALT, PORT, PEER_IP, PEER_PORT)
    r.app_write(key, bytes(10), p.now)
    return sorted({s.src for s in [*out, *p.drain()]})


def connect_to_group(faults: set[str]) -> object:
    """What an active open to each group address does: refused (its message), or the SYN it sends."""
    out: list[object] = []
    for group in ("224.0.0.1", "255.255.255.255", "192.0.2.255"):
        r = _responder(faults)
        try:
            r.app_connect(FourTuple(IP, 40001, group, 9), 0.0)
        except ResponderError as err:
            out.append("refused" if "broadcast or multicast" in str(err) else str(err))
            continue
        out.append([s.flags.tcpdump() for s in r.segments_to_send()])
    return out


def unbound_syn_source(faults: set[str]) -> object:
    """The source of the SYN of an active open with the port alone bound (IP chose the first address)."""
    r = _responder(faults)
    r.app_connect(FourTuple(IP, 40001, PEER_IP, 9), 0.0, bound=False)
    return [s.src for s in r.segments_to_send()]


def listen_again(faults: set[str]) -> object:
    """With a connection ESTABLISHED on the port, the application closes its listener and listens
    again: what the connection does with 10 more bytes, and what a new SYN draws."""
    r = _responder(faults)
    r.app_listen(PORT, 0.0)
    p = Peer(r, seq=0, ack=0)
    out = p.send(p.segment(F.SYN, seq=0))
    p.seq, p.ack = 1, (out[0].seq + 1) & 0xFFFFFFFF
    p.send(p.segment(F.ACK))
    r.app_unlisten(PORT, p.now)
    r.app_listen(PORT, p.now)
    reset = [s.flags.tcpdump() for s in p.drain()]
    data = [s.flags.tcpdump() for s in p.send(p.segment(F.PSH | F.ACK, payload=bytes(10)))]
    fresh = [s.flags.tcpdump() for s in p.send(p.segment(F.SYN, seq=500).with_(sport=PEER_PORT + 1))]
    return reset, r.state(p.key).name, data[:1], fresh


MULTIHOME_CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "reply-from-primary": (sources_on_second, [IP], [ALT]),
    "connect-to-group": (connect_to_group, [["S"]] * 3, ["refused"] * 3),
    "unbound-source-unspecified": (unbound_syn_source, ["0.0.0.0"], [IP]),
    "listen-resets-port": (listen_again, (["R"], "CLOSED", ["R"], ["S."]), ([], "ESTABLISHED", [], ["S."])),
}


@pytest.mark.parametrize("fault", sorted(MULTIHOME_CHECKS))
def test_fault_changes_what_the_multihomed_host_does(fault: str) -> None:
    check, faulty, correct = MULTIHOME_CHECKS[fault]
    assert check({fault}) == faulty
    assert check(set()) == correct


def test_an_active_open_binds_the_second_address_and_refuses_one_not_its_own() -> None:
    r = _responder(set())
    r.app_connect(FourTuple(ALT, 40001, PEER_IP, 9), 0.0)
    (syn,) = r.segments_to_send()
    assert (syn.src, syn.flags.tcpdump()) == (ALT, "S")
    with pytest.raises(ResponderError, match="not an address and port of this host"):
        r.app_connect(FourTuple("192.0.2.9", 40002, PEER_IP, 9), 0.0)


def test_without_a_second_address_a_segment_to_it_is_not_the_hosts() -> None:
    r = Responder(agent_config())
    r.app_listen(PORT, 0.0)
    p = Peer(r, seq=0, ack=0)
    assert p.send(p.segment(F.SYN, seq=0).with_(dst=ALT)) == []
    assert r.state(FourTuple(ALT, PORT, PEER_IP, PEER_PORT)).name == "CLOSED"


def test_unlisten_without_a_listener_is_refused_and_stops_new_connections() -> None:
    r = _responder(set())
    with pytest.raises(ResponderError, match="no listening socket on port 8000"):
        r.app_unlisten(PORT, 0.0)
    r.app_listen(PORT, 0.0)
    r.app_unlisten(PORT, 0.0)
    p = Peer(r, seq=0, ack=0)
    assert [s.flags.tcpdump() for s in p.send(p.segment(F.SYN, seq=0))] == ["R."]  # a closed port's answer


@pytest.mark.parametrize("alt", ["192.0.2.2", "2001:db8::3"])
def test_a_second_address_must_be_another_of_the_family(alt: str) -> None:
    with pytest.raises(ValueError, match="alt_ip must be a second address"):
        ResponderConfig(ip=IP, alt_ip=alt)
