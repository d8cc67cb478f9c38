"""The ``fill_window`` step: the tester fills the target's receive window until the target offers zero.

The target's application reads nothing (an agent that is not told to read), so each byte the target
takes stays in its buffer and its window closes.  The tester sends its own stream (the bytes a later
``app read`` checks) from its next sequence number up to the right edge the target last offered, in
segments of the target's MSS (at most an Ethernet frame's, so every link carries them), then takes
the target's answers until ``QUIET`` passes without one (the first due ``within``, the run's bound by
default).  It repeats from the target's acknowledgment: a receiver may drop what it acknowledged
not (a buffer fuller than its window said), and that is sent again.  The step ends when the last
answer offers a window of zero; what it did not acknowledge is taken as never sent, so the tester's
next sequence number is the target's RCV.NXT, captured as ``$fill_end`` (in the case's numbering),
and the bytes it took are the figure ``fill_bytes``; the largest window the target offered is kept
for the steps after it (:class:`Filled`).

Invariants: every segment the tester sends lies inside the window the target offered (a zero-window
case judges what the target does at the edge, never what it did with data it had no room for); a
target that still offers a window after ``max_bytes`` (a receive buffer that grows although nothing
is read), or takes nothing more for ``STALLED`` rounds while offering a window, cannot show what the
case asserts: the case is skipped with the reason.  A target that acknowledges nothing at all fails
(MUST-40's 500 ms are long past), and so does one that resets or closes the connection meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass

from tcpconform.cases.model import FillWindowStep
from tcpconform.engine import timing
from tcpconform.engine.env import StepEnv, transmit
from tcpconform.engine.matching import check_invariants
from tcpconform.engine.needs import NeedsContext
from tcpconform.engine.outcome import CaseError, CaseUnobservable, StepFailed
from tcpconform.engine.waits import Waiting
from tcpconform.results import Mismatch, StepResult
from tcpconform.targets.base import Capability
from tcpconform.tcp import seqnum
from tcpconform.tcp.payload import TESTER_SALT, stream_bytes
from tcpconform.tcp.segment import Flags, Segment, default_mss, is_ipv6

__all__ = ["FillWindowStep", "Filled", "fill_window", "needs"]

QUIET = 0.3
"""How long after the target's last answer a round ends: longer than Linux's 200 ms delayed ACK at most."""
STALLED = 5
"""Rounds in a row in which the target takes nothing more, window open, before the step gives up on it."""
ETHERNET_MSS = (1460, 1440)
"""The largest segment a 1500-byte Ethernet frame carries, over IPv4 and over IPv6."""


@dataclass(frozen=True, slots=True)
class Filled:
    """What a fill left for the steps after it (:meth:`StepEnv.keep`)."""

    largest_window: int
    """The largest window the target offered, its SYN's included: a lower bound of its receive buffer."""


def needs(step: object, context: NeedsContext) -> Capability:
    """An application that reads nothing unless told, and only what it is told: an agent (fill_window and
    slow_read; every service reads by itself, or never takes data)."""
    return Capability.APP


def fill_window(env: StepEnv, step: FillWindowStep, sres: StepResult) -> Waiting[None]:
    """Send into the target's window until its answers offer zero; see the module docstring."""
    conn = env.conn
    if conn.last_ack is None or conn.last_window is None or conn.rcv_nxt is None:
        raise CaseError("fill_window needs an established connection: nothing acknowledged yet")
    within = step.within if step.within is not None else env.settings.profile.within
    size = min(conn.target_mss or default_mss(env.key.src), ETHERNET_MSS[is_ipv6(env.key.src)])
    sres.expected = f"the target's window closes (offers 0) within {step.max_bytes} bytes unread"
    ack, window = conn.last_ack, conn.last_window << conn.edge_shift
    first = seqnum.add(conn.tester_isn, 1)
    sent = stalled = 0
    largest = max(window, conn.target_syn.window if conn.target_syn is not None else 0)
    while window > 0:
        start = ack if seqnum.lt(ack, conn.snd_nxt) else conn.snd_nxt
        edge = seqnum.add(ack, window)
        if sent >= step.max_bytes:
            raise CaseUnobservable(
                f"the target's window never closed: after {sent} bytes sent, none read, it still offers {window} "
                "(a receive buffer that grows unread): a zero window cannot be shown on it")
        at = env.link.now()
        while seqnum.lt(start, edge) and sent < step.max_bytes:
            n = min(size, seqnum.diff(edge, start), step.max_bytes - sent)
            last = not seqnum.lt(seqnum.add(start, n), edge)
            seg = Segment(env.key.src, env.key.dst, env.key.sport, env.key.dport, seq=start, ack=conn.rcv_nxt,
                          flags=Flags.ACK | (Flags.PSH if last else Flags(0)),
                          window=conn.tester_window if conn.tester_window is not None else env.case.tester_window,
                          payload=stream_bytes(seqnum.diff(start, first), n, TESTER_SALT))
            at = env.t_sent = transmit(env, seg, sres.index, "filling the target's window")
            start, sent = seqnum.add(start, n), sent + n
        got_any, before = False, ack
        deadline = timing.latest(at, within)
        while True:
            got = yield from env.next(deadline)
            if got is None:
                break
            seg = got.segment
            idx = env.record("in", seg, got.at, sres.index, frame=got.frame)
            sres.observed.append(idx)
            broken = check_invariants(seg, conn, env.case.invariants, got.checksum)
            if broken:
                raise StepFailed(f"segment {env.result.segments[idx].summary} breaks "
                                 + ", ".join(name for name, _ in broken),
                                 [Mismatch(f"{m.field} ({name})", m.expected, m.actual) for name, m in broken],
                                 requirement=broken[0][0])
            conn.note_received(seg)
            if seg.flags & (Flags.RST | Flags.SYN | Flags.FIN) or not seg.flags & Flags.ACK:
                raise StepFailed(f"unexpected segment while the tester filled the window: {env.result.segments[idx].summary}",
                                 [Mismatch("segment", "an ACK of the data", env.result.segments[idx].summary)])
            got_any = True
            if seqnum.ge(seg.ack, ack):
                ack, window = seg.ack, seg.window << conn.edge_shift
                largest = max(largest, window)
            env.result.segments[idx].note = f"window {window} after {seqnum.diff(ack, first)} bytes taken"
            deadline = got.at + QUIET
        if not got_any:
            raise StepFailed(f"the target acknowledged none of the data sent into its window within {timing.ms(within)}",
                             [Mismatch("ACK", "an ACK of the data", "nothing arrived")])
        stalled = stalled + 1 if ack == before and window > 0 else 0
        if stalled >= STALLED:
            raise CaseUnobservable(f"the target took no more data for {STALLED} rounds yet offers a window of {window}: "
                                   "its window cannot be closed")
    conn.snd_nxt = ack  # what it did not take counts as never sent: the tester's next byte is its RCV.NXT
    conn.captured["fill_end"] = conn.tester_written(ack)
    taken = seqnum.diff(ack, first) - conn.app_read
    env.result.figures["fill_bytes"] = taken
    env.keep(Filled(largest))
    sres.message = f"the target's window closed after {taken} bytes unread ({sent} sent)"
    env.t_ref = env.link.now()
