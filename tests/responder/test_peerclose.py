"""What the responder's application learns through its socket: the way its peer ended the stream
(RFC 9293 3.6, MUST-12; :mod:`tcpconform.responder.peerclose`), end of file after a FIN, connection
reset after a RST, through the host's API and the responder's agent on the wire; and its options as
getsockopt reads them (the keep-alive idle time's default, MUST-28).  As in ``test_faults``: every check runs
with and without its fault and returns what it observed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.responder import F, Peer, agent_established

from tcpconform.responder import ResponderError
from tcpconform.targets.agent.protocol import AppError
from tcpconform.targets.agent.responder import ResponderAgent


def _after_fin(faults: set[str]) -> Peer:
    p = agent_established(faults)
    p.data(3)
    p.send(p.segment(F.FIN | F.ACK))
    return p


def _after_rst(faults: set[str]) -> Peer:
    p = agent_established(faults)
    p.send(p.segment(F.RST | F.ACK))
    return p


def fin_told(faults: set[str]) -> object:
    p = _after_fin(faults)
    return p.r.read_end(p.key, p.now), p.r.read_end(p.key, p.now, drain=True)


def rst_told(faults: set[str]) -> object:
    p = _after_rst(faults)
    return p.r.read_end(p.key, p.now)


PEERCLOSE_CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "fin-as-reset": (fin_told, ("open", "reset"), ("open", "eof")),
    "rst-as-eof": (rst_told, "eof", "reset"),
}


@pytest.mark.parametrize("fault", sorted(PEERCLOSE_CHECKS))
def test_fault_tells_one_end_for_the_other(fault: str) -> None:
    check, faulty, correct = PEERCLOSE_CHECKS[fault]
    assert check({fault}) == faulty
    assert check(set()) == correct


def test_a_reset_is_told_until_the_connection_is_forgotten_or_its_tuple_reused() -> None:
    p = _after_rst(set())
    assert p.r.read_end(p.key, p.now) == "reset"
    p.r.forget(p.key)
    with pytest.raises(ResponderError):
        p.r.read_end(p.key, p.now)


def test_the_agent_on_the_wire_reads_eof_and_fails_a_reset_with_its_errno() -> None:
    p = _after_fin(set())
    agent = ResponderAgent(p.r, clock=lambda: p.now)
    key = p.key.reversed()
    data, eof = agent.read(key, 10, 0)
    assert (len(data), eof) == (3, True)  # the bytes before the FIN, and the end of the stream
    assert agent.read(key, 10, 0) == (b"", True)
    q = _after_rst(set())
    with pytest.raises(AppError) as err:
        ResponderAgent(q.r, clock=lambda: q.now).read(q.key.reversed(), 10, 0)
    assert err.value.errno == "ECONNRESET"


def keepidle_read(faults: set[str]) -> object:
    """TCP_KEEPIDLE as getsockopt reads it, on a connection and on the listener, before any is set."""
    p = agent_established(faults)
    return p.r.app_getsockopt(p.key, "TCP_KEEPIDLE"), p.r.app_getsockopt(8000, "TCP_KEEPIDLE")


PEERCLOSE_CHECKS["keepalive-idle-20s"] = (keepidle_read, (20, 20), (7200, 7200))


def test_getsockopt_reads_what_was_set_and_refuses_what_the_responder_lacks() -> None:
    from tcpconform.responder import UnsupportedOption

    p = agent_established()
    p.r.app_setsockopt(p.key, "TCP_USER_TIMEOUT", 1500, p.now)
    p.r.app_setsockopt(p.key, "IP_TOS", 0x2B, p.now)
    assert [p.r.app_getsockopt(p.key, n) for n in ("TCP_USER_TIMEOUT", "IP_TOS", "IP_TTL", "SO_KEEPALIVE")] == [1500, 0x28, 64, 0]
    with pytest.raises(UnsupportedOption):
        p.r.app_getsockopt(p.key, "SO_SNDBUF")
