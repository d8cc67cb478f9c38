"""What the responder's zero-window faults drop (:mod:`tcpconform.responder.zerowindow`), and what they leave
alone: a window that is open, a SYN, and (for the URG fault) every segment without URG; and writes queued
behind the peer's zero window, collapsed but under segment-per-write (:mod:`tcpconform.responder.coalesce`);
and small reads from a full buffer, announced only past the silly-window threshold but under sws-receiver."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.responder import F, Peer, agent_config, agent_established, show

from tcpconform.responder import Responder
from tcpconform.responder.config import ResponderConfig
from tcpconform.responder.zerowindow import zero_window_drop
from tcpconform.tcp.segment import Flags, Segment
from tcpconform.tcp.states import State


def seg(flags: Flags) -> Segment:
    return Segment("192.0.2.1", "192.0.2.2", 40000, 8000, seq=1, ack=101, flags=flags)


def cfg(*faults: str) -> ResponderConfig:
    return ResponderConfig(faults=frozenset(faults))


@pytest.mark.parametrize("flags", [Flags.RST, Flags.ACK, Flags.ACK | Flags.URG, Flags.RST | Flags.ACK])
def test_the_clean_responder_drops_nothing_for_its_window(flags: Flags) -> None:
    assert zero_window_drop(cfg(), seg(flags), 0) is None


def test_drops_all_drops_a_rst_silently_and_answers_the_rest() -> None:
    assert zero_window_drop(cfg("zero-window-drops-all"), seg(Flags.RST), 0) == "silently"
    assert zero_window_drop(cfg("zero-window-drops-all"), seg(Flags.ACK | Flags.URG), 0) == "with-ack"
    assert zero_window_drop(cfg("zero-window-drops-all"), seg(Flags.ACK), 0) == "with-ack"


def test_drops_urg_drops_only_urg() -> None:
    assert zero_window_drop(cfg("zero-window-drops-urg"), seg(Flags.ACK | Flags.URG), 0) == "silently"
    assert zero_window_drop(cfg("zero-window-drops-urg"), seg(Flags.ACK), 0) is None
    assert zero_window_drop(cfg("zero-window-drops-urg"), seg(Flags.RST), 0) is None


@pytest.mark.parametrize("fault", ["zero-window-drops-all", "zero-window-drops-urg"])
def test_an_open_window_or_a_syn_is_left_to_the_checks(fault: str) -> None:
    assert zero_window_drop(cfg(fault), seg(Flags.ACK | Flags.URG), 1) is None
    assert zero_window_drop(cfg(fault), seg(Flags.SYN | Flags.URG), 0) is None


def filled(faults: set[str]) -> Peer:
    """A connection whose 1024-byte receive buffer the peer filled: the last ACK offers window 0."""
    r = Responder(agent_config(faults=frozenset(faults), window=1024))
    r.app_listen(8000, 0.0)
    p = Peer(r, seq=0, ack=5000)
    p.send(p.segment(F.SYN, seq=0, options=(("MSS", 512),)))
    p.seq, p.ack = 1, 101
    p.send(p.segment(F.ACK))
    p.data(512)
    out = p.data(512)
    assert [s.window for s in out] == [0]
    return p


def rst_at_zero_window(faults: set[str]) -> object:
    p = filled(faults)
    return show(p.send(p.segment(F.RST))), p.r.state(p.key)


def urg_ack_at_zero_window(faults: set[str]) -> object:
    """100 bytes written and sent; a URG segment of no length at RCV.NXT acknowledges them: is any resent?"""
    p = filled(faults)
    p.r.app_write(p.key, b"u" * 100, 0.1)
    assert show(p.drain()) == ["P. 101 1025 len=100"]
    answer = show(p.send(p.segment(F.ACK | F.URG, ack=201), at=0.2))
    return answer, show([s for _, s in p.run_timers_until(3.0)])


def writes_behind_zero_window(faults: set[str]) -> object:
    """Ten 100-byte writes behind the peer's zero window, then the window opens: the segments' sizes in the next
    800 ms (under the fault, one write's 100 bytes after the SWS override; Nagle holds the rest for the ACK)."""
    p = agent_established(faults)
    p.send(p.segment(F.ACK, window=0))
    for i in range(10):
        p.r.app_write(p.key, b"w" * 100, 0.01 * i)
    p.drain()
    out = p.send(p.segment(F.ACK, window=5000), at=0.2) + [s for _, s in p.run_timers_until(1.0)]
    return [len(s.payload) for s in out if s.payload]


def reads_from_full_buffer(faults: set[str]) -> object:
    """Five reads of 100 octets from the full 1024-octet buffer: the windows of the updates they draw
    (min(1024 / 2, 1460) = 512 is where the clean responder announces)."""
    p = filled(faults)
    out = []
    for i in range(6):
        p.r.app_read(p.key, 100, 0.1 + 0.01 * i)
        out += [s.window for s in p.drain()]
    return out


ZERO_WINDOW_CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "zero-window-drops-all": (rst_at_zero_window, ([], State.ESTABLISHED), ([], State.CLOSED)),
    "zero-window-drops-urg": (urg_ack_at_zero_window, ([], ["P. 101 1025 len=100"]), ([], [])),
    "segment-per-write": (writes_behind_zero_window, [100], [512, 488]),
    "sws-receiver": (reads_from_full_buffer, [100, 200, 300, 400, 500, 600], [600]),
}


@pytest.mark.parametrize("fault", sorted(ZERO_WINDOW_CHECKS))
def test_fault_changes_what_it_claims(fault: str) -> None:
    check, faulty, correct = ZERO_WINDOW_CHECKS[fault]
    assert check({fault}) == faulty
    assert check(set()) == correct
