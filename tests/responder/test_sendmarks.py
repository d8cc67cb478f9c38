"""What the responder marks on its segments on their way out (:mod:`tcpconform.responder.sendmarks`):
the urgent pointer of the application's urgent data (RFC 9293 3.8.5, MUST-62) and the DS field of
every segment (3.9.1.9, SHLD-21, SHLD-22).  As in ``test_faults``: every check runs with and without
its fault and returns what it observed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.responder import F, agent_established

from tcpconform.tcp.segment import Flags


def _urgent_write(faults: set[str]) -> tuple[object, object]:
    """10 ordinary bytes (acknowledged), then 5 urgent: the urgent segment's flags and pointer, and
    its retransmission's."""
    p = agent_established(faults)
    p.r.app_write(p.key, bytes(10), p.now)
    p.drain()
    p.send(p.segment(F.ACK, ack=111))
    p.r.app_write(p.key, bytes(5), p.now, urgent=True)
    first = [(bool(s.flags & Flags.URG), s.urgptr) for s in p.drain()]
    again = [(bool(s.flags & Flags.URG), s.urgptr) for _, s in p.run_timers_until(1.5)]
    return first, again


def urgent_pointer(faults: set[str]) -> object:
    return _urgent_write(faults)[0]


def urgent_flagged(faults: set[str]) -> object:
    return _urgent_write(faults)


def _tos_seen(faults: set[str], second: int | None = None) -> list[tuple[str, int | None]]:
    """IP_TOS 0xb8, 10 bytes written and retransmitted, (IP_TOS ``second``, if given), 10 received
    (a pure ACK), a close (the FIN): each segment's flags and TOS."""
    p = agent_established(faults)
    p.r.app_setsockopt(p.key, "IP_TOS", 0xB8, p.now)
    p.r.app_write(p.key, bytes(10), p.now)
    out = list(p.drain())
    out += [s for _, s in p.run_timers_until(1.5)]
    p.send(p.segment(F.ACK, ack=111))
    if second is not None:
        out.clear()
        p.r.app_setsockopt(p.key, "IP_TOS", second, p.now)
    out += p.data(10, at=p.now)
    out += [s for _, s in p.run_timers_until(p.now + 1.0)]
    p.r.app_read(p.key, 10, p.now)
    p.r.app_close(p.key, p.now)
    out += p.drain()
    return [(s.flags.tcpdump() + (f" {len(s.payload)}" if s.payload else ""), None if s.ip is None else s.ip.tos)
            for s in out]


def tos_on_every_segment(faults: set[str]) -> object:
    return _tos_seen(faults)


def tos_changed(faults: set[str]) -> object:
    return {tos for _, tos in _tos_seen(faults, second=0x28)}


SENDMARK_CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "urgent-pointer-last-octet": (urgent_pointer, [(True, 4)], [(True, 5)]),
    "urgent-not-flagged": (urgent_flagged, ([(False, 0)], [(False, 0)]), ([(True, 5)], [(True, 5)])),
    "tos-data-only": (tos_on_every_segment, [("P. 10", 0xB8), ("P. 10", None), (".", None), ("F.", None)],
                      [("P. 10", 0xB8), ("P. 10", 0xB8), (".", 0xB8), ("F.", 0xB8)]),
    "tos-change-ignored": (tos_changed, {0xB8}, {0x28}),
}


@pytest.mark.parametrize("fault", sorted(SENDMARK_CHECKS))
def test_fault_changes_what_goes_out(fault: str) -> None:
    check, faulty, correct = SENDMARK_CHECKS[fault]
    assert check({fault}) == faulty
    assert check(set()) == correct


def test_urgent_mode_ends_once_the_urgent_data_is_acknowledged() -> None:
    p = agent_established()
    p.r.app_write(p.key, bytes(5), p.now, urgent=True)
    assert [(s.flags & Flags.URG, s.urgptr) for s in p.drain()] == [(Flags.URG, 5)]
    p.send(p.segment(F.ACK, ack=106))
    p.r.app_write(p.key, bytes(5), p.now)
    assert [(s.flags & Flags.URG, s.urgptr) for s in p.drain()] == [(Flags(0), 0)]


def test_a_pointer_beyond_the_segment_marks_every_segment_before_it() -> None:
    """600 urgent bytes at MSS 512: the first segment's pointer runs past its end (600), the second's is 88."""
    p = agent_established()
    p.r.app_write(p.key, bytes(600), p.now, urgent=True)
    assert [(len(s.payload), s.urgptr) for s in p.drain() if s.flags & Flags.URG] == [(512, 600), (88, 88)]
