"""The ``flight`` step: how much new data the target sends before the tester acknowledges any.

The step counts the segments that carry new sequence space (their end beyond the highest the target
sent so far), in any sizes, and ends once ``quiet`` has passed since the last of them (the first must
come within ``within``).  A retransmission, a pure ACK or a window update passes while it waits,
counted as nothing new; anything else is no part of a flight and fails it.  Invariants: more than
``max_segments`` new segments fail the step as soon as the one too many arrives; a flight of no
segment fails (the step asserts data came); the count and the bytes are the case's figures
``flight_segments`` and ``flight_bytes``, so a run reports the target's initial window as measured.
"""

from __future__ import annotations

from tcpconform.cases.model import TOLERABLE, FlightStep
from tcpconform.engine import timing
from tcpconform.engine.env import StepEnv
from tcpconform.engine.matching import check_invariants, tolerated
from tcpconform.engine.outcome import StepFailed
from tcpconform.engine.waits import Waiting
from tcpconform.results import Mismatch, StepResult
from tcpconform.tcp import seqnum


def flight(env: StepEnv, step: FlightStep, sres: StepResult) -> Waiting[None]:
    """Count the target's new segments until it has been quiet for ``step.quiet``; fail past the bound."""
    conn, segments = env.conn, env.result.segments
    within = step.within if step.within is not None else env.settings.profile.within
    sres.expected = f"at most {step.max_segments} segment(s) of new data, then {timing.ms(step.quiet)} without any"
    deadline = timing.latest(env.t_ref, within)
    count = nbytes = 0
    while True:
        got = yield from env.next(deadline)
        if got is None:
            break
        seg = got.segment
        idx = env.record("in", seg, got.at, sres.index, frame=got.frame)
        sres.observed.append(idx)
        broken = check_invariants(seg, conn, env.case.invariants, got.checksum)
        if broken:
            names = ", ".join(name for name, _ in broken)
            raise StepFailed(f"segment {segments[idx].summary} breaks {names}",
                             [Mismatch(f"{m.field} ({name})", m.expected, m.actual) for name, m in broken],
                             requirement=broken[0][0])
        end = seqnum.add(seg.seq, seg.seg_len)
        new = bool(seg.seg_len) and (conn.target_high is None or seqnum.gt(end, conn.target_high))
        why = None if new else tolerated(seg, TOLERABLE, None, conn)
        conn.note_received(seg)
        if new:
            count += 1
            nbytes += len(seg.payload)
            segments[idx].note = f"flight: segment {count}, {nbytes} bytes"
            if count > step.max_segments:
                raise StepFailed(
                    f"the target sent {count} segments of new data before any acknowledgment, more than "
                    f"{step.max_segments}: {segments[idx].summary}",
                    [Mismatch("flight", f"<= {step.max_segments} segments", f"{count} segments, {nbytes} bytes")])
            deadline = got.at + step.quiet
        elif why is None:
            raise StepFailed(f"expected a flight of new data, got {segments[idx].summary}",
                             [Mismatch("segment", "new data", segments[idx].summary)])
        else:
            segments[idx].note = f"tolerated: {why}"
    if count == 0:
        raise StepFailed(f"expected new data within {timing.ms(within)}; nothing new arrived",
                         [Mismatch("flight", "at least 1 segment", "none")])
    env.result.figures["flight_segments"] = count
    env.result.figures["flight_bytes"] = nbytes
    env.t_ref = env.link.now()
