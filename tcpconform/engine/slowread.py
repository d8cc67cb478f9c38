"""The ``slow_read`` step: the application drains its buffer in small pieces, and the target must not
announce each piece as a window update (receiver silly-window avoidance, RFC 9293 3.8.6.2.2, MUST-39).

The application reads ``total`` bytes, ``PIECE`` at a time, ``INTERVAL`` apart (each read must get its
bytes within ``within``, the run's bound by default, and they must be the tester's stream in order);
then the step listens ``QUIET`` longer, for an update the last read drew.  Every segment the target
sends meanwhile is judged:

- a window update (a pure ACK moving the right edge of the target's window, ack plus scaled window,
  past the highest it offered) must open the window by at least ``min(W / 2, MSS - 40)``: RFC 9293's
  receiver keeps RCV.NXT + RCV.WND fixed until the opening reaches ``min(Fr * RCV.BUFF,
  Eff.snd.MSS)`` with Fr 1/2.  W, the largest window the target offered (a fill before keeps it:
  :class:`~tcpconform.engine.fill.Filled`), is a lower bound of RCV.BUFF, and the tester's MSS less
  the 40 octets options may take is one of Eff.snd.MSS; so the threshold is the smallest any
  conformant receiver may use, and a larger opening (Linux's, a multiple of the MSS it sees, or half
  its buffer) passes;
- any other pure ACK passes; data, a SYN, a FIN or a RST fail the step (the application only reads).

No window update at all passes too: the RFC lets the sender's window probes find the space.  The
figures ``window_updates`` and, when there was one, ``smallest_window_update`` (octets) are reported.
"""

from __future__ import annotations

from tcpconform.cases.model import SlowReadStep
from tcpconform.engine import timing
from tcpconform.engine.env import StepEnv
from tcpconform.engine.fill import Filled
from tcpconform.engine.matching import check_invariants
from tcpconform.engine.outcome import CaseError, StepFailed
from tcpconform.engine.waits import Waiting
from tcpconform.results import Mismatch, StepResult
from tcpconform.tcp import seqnum
from tcpconform.tcp.payload import TESTER_SALT, stream_bytes
from tcpconform.tcp.segment import Flags

__all__ = ["SlowReadStep", "slow_read", "waits"]

PIECE = 100
"""Bytes per read: well below any MSS a case offers, so an update per read is a silly window."""
INTERVAL = 0.05
"""Time between reads: room for the update a read draws (Linux sends it from the read itself)."""
QUIET = 0.3
"""How long the step listens after the last read: longer than a 200 ms delayed ACK."""
OPTION_ROOM = 40
"""The most octets TCP options take from a segment: Eff.snd.MSS is at least the MSS less these."""
POLL = 0.005
"""How often a read that got fewer bytes than asked is tried again."""


def waits(step: SlowReadStep) -> float:
    """The waiting the step mandates: its pauses between reads and the quiet after the last."""
    return (-(-step.total // PIECE) - 1) * INTERVAL + QUIET


def slow_read(env: StepEnv, step: SlowReadStep, sres: StepResult) -> Waiting[None]:
    """Read ``step.total`` bytes in pieces; judge each window update against the threshold."""
    conn = env.conn
    syn = conn.target_syn  # its window is never scaled (RFC 7323 2.2)
    edge = conn.target_right_edge if syn is None or conn.target_right_edge is not None else seqnum.add(syn.ack, syn.window)
    if edge is None:
        raise CaseError("slow_read needs the target's window: nothing came from it yet")
    filled = env.kept(Filled)
    largest = max(filled.largest_window if filled is not None else 0, syn.window if syn is not None else 0)
    threshold = min(largest // 2, conn.mss_offered - OPTION_ROOM)
    if threshold <= PIECE:
        raise CaseError(f"a receiver's silly-window threshold of {threshold} octets (min(window {largest} / 2, "
                        f"MSS {conn.mss_offered} - {OPTION_ROOM})) is no larger than a read of {PIECE}: nothing to show")
    within = step.within if step.within is not None else env.settings.profile.within
    sres.expected = (f"{step.total} bytes read {PIECE} at a time; any window update opens the window by at least "
                     f"{threshold} (min(largest window {largest} / 2, MSS {conn.mss_offered} - {OPTION_ROOM}))")
    done, updates = 0, []
    while done < step.total:
        n = min(PIECE, step.total - done)
        yield from _read(env, n, within)
        done += n
        until = env.link.now() + (INTERVAL if done < step.total else QUIET)
        while (got := (yield from env.next(until))) is not None:
            seg = got.segment
            idx = env.record("in", seg, got.at, sres.index, frame=got.frame)
            sres.observed.append(idx)
            summary = env.result.segments[idx].summary
            broken = check_invariants(seg, conn, env.case.invariants, got.checksum)
            if broken:
                raise StepFailed(f"segment {summary} breaks " + ", ".join(name for name, _ in broken),
                                 [Mismatch(f"{m.field} ({name})", m.expected, m.actual) for name, m in broken],
                                 requirement=broken[0][0])
            conn.note_received(seg)
            if seg.seg_len or seg.flags & (Flags.RST | Flags.SYN | Flags.FIN) or not seg.flags & Flags.ACK:
                raise StepFailed(f"unexpected segment while the application read: {summary}",
                                 [Mismatch("segment", "a pure ACK (a window update)", summary)])
            new_edge = seqnum.add(seg.ack, seg.window << conn.edge_shift)
            if not seqnum.gt(new_edge, edge):
                env.result.segments[idx].note = "tolerated: the window's right edge did not move on"
                continue
            opening = seqnum.diff(new_edge, edge)
            if opening < threshold:
                raise StepFailed(
                    f"a window update opened the window by {opening} octets after the application had read {done} "
                    f"in pieces of {PIECE}: receiver silly-window avoidance holds the right edge until the opening "
                    f"reaches min(RCV.BUFF / 2, Eff.snd.MSS), at least {threshold} here: {summary}",
                    [Mismatch("window update", f"opens by >= {threshold}", f"opens by {opening}")])
            edge = new_edge
            updates.append(opening)
            env.result.segments[idx].note = f"window update: opens by {opening} after {done} bytes read"
    env.result.figures["window_updates"] = len(updates)
    if updates:
        env.result.figures["smallest_window_update"] = min(updates)
    sres.message = (f"{len(updates)} window update(s) while {step.total} bytes were read {PIECE} at a time"
                    + (f", the smallest opening {min(updates)}" if updates else ""))
    env.t_ref = env.link.now()


def _read(env: StepEnv, n: int, within: float) -> Waiting[None]:
    """The application reads ``n`` bytes; they must be the tester's next ``n``, within ``within``."""
    conn, got = env.conn, b""
    deadline = timing.latest(env.link.now(), within)
    while True:
        got += env.target.app_read(env.key, n - len(got))
        if len(got) >= n or env.link.now() >= deadline:
            break
        yield from env.sleep(min(deadline, env.link.now() + POLL))
    expected = stream_bytes(conn.app_read, n, TESTER_SALT)
    conn.app_read += len(got)
    if got != expected:
        raise StepFailed(f"the application read {len(got)} of {n} bytes" + ("" if got == expected[:len(got)]
                                                                            else ", not the bytes sent"),
                         [Mismatch("app read", f"{n} bytes, in order", f"{len(got)} bytes")])
