"""The ``reopen`` step: a new SYN on the case's 4-tuple while the target holds it in TIME-WAIT
(RFC 9293 3.6.1 MAY-2 and SHLD-4, RFC 6191).

The case has had the target close first and brought it to TIME-WAIT; the step sends a SYN (no ACK)
from the same port, with the tester's MSS, and judges the first segment that answers within the
bound.  Its mode says which SYN, each chosen so that only one rule can justify reopening:

- ``timestamp-newer``: a TSval 1000 above the tester's last, a sequence number 100,000 *below* the
  old RCV.NXT (RFC 1122's rule would refuse it).  RFC 6191's test reopens: a SYN-ACK acknowledging
  the SYN must come; anything else (an ACK, a RST, nothing) fails the step, at the level of its
  requirement (SHLD-4: a SHOULD).
- ``timestamp-older``: a TSval 1000 below the tester's last, a sequence number 100,000 beyond the old
  RCV.NXT.  An old duplicate by RFC 6191 (and PAWS): a SYN-ACK fails the step; an ACK, a RST or
  nothing passes it.
- ``sequence-above``: no timestamps (on either incarnation), a sequence number 100,000 beyond the old
  RCV.NXT.  Reopening is the target's choice (MAY-2): an ACK, a RST or nothing skips the case, with
  the reason; a SYN-ACK must acknowledge the SYN and its ISN must lie beyond every number the old
  incarnation used (at or past the end of the target's FIN: MAY-2's first condition, without which
  MUST-13's TIME-WAIT was cut short).

The timestamp modes need the old incarnation to have used timestamps (the target's SYN-ACK carried
them and the tester sent some; without them the case is skipped: RFC 6191 had nothing to go by).
A SYN-ACK is reset at once, at the new incarnation's RCV.NXT, so the target keeps nothing.  The
step sends on the link directly: the tester's view of the old connection is left as it was.
"""

from __future__ import annotations

from tcpconform.cases.model import ReopenStep
from tcpconform.engine import timing
from tcpconform.engine.env import StepEnv
from tcpconform.engine.outcome import CaseError, CaseUnobservable, StepFailed
from tcpconform.engine.waits import Waiting
from tcpconform.results import Mismatch, StepResult
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, Segment

__all__ = ["ReopenStep", "reopen"]  # the step type with its handler, for the table of step kinds

SEQ_STEP = 100_000
"""How far from the old RCV.NXT the new SYN's sequence number lies, either way."""
TS_STEP = 1000
"""How far from the tester's last TSval the new SYN's lies, either way (PAWS's own slack is 1)."""


def _last_tsval(env: StepEnv) -> int | None:
    """The TSval of the tester's last segment on the connection that carried one."""
    for record in reversed(env.result.segments):
        seg = record.segment
        if record.direction == "out" and isinstance(seg, Segment):
            tsopt = seg.option("Timestamp")
            if isinstance(tsopt, tuple) and len(tsopt) == 2 and isinstance(tsopt[0], int):
                return tsopt[0]
    return None


def _syn(env: StepEnv, mode: str) -> Segment:
    """The new SYN the mode describes (module docstring)."""
    conn, key = env.conn, env.key
    options: list[tuple[str, object]] = [("MSS", env.case.tester_mss or 536)]
    if mode == "sequence-above":
        seq = seqnum.add(conn.snd_nxt, SEQ_STEP)
    else:
        tsval = _last_tsval(env)
        syn = conn.target_syn
        if tsval is None or syn is None or syn.option("Timestamp") is None:
            raise CaseUnobservable("the old connection used no timestamps (the target's SYN-ACK or the tester's segments "
                                   "carried none): RFC 6191 has no TSval to compare")
        newer = mode == "timestamp-newer"
        seq = seqnum.add(conn.snd_nxt, -SEQ_STEP if newer else SEQ_STEP)
        options += [("NOP", None), ("NOP", None), ("Timestamp", (seqnum.add(tsval, TS_STEP if newer else -TS_STEP), 0))]
    return Segment(key.src, key.dst, key.sport, key.dport, seq=seq, ack=0, flags=Flags.SYN,
                   window=env.case.tester_window or 8192, options=tuple(options))


def reopen(env: StepEnv, step: ReopenStep, sres: StepResult) -> Waiting[None]:
    """Send the mode's SYN in TIME-WAIT and judge the answer (module docstring)."""
    conn = env.conn
    if conn.target_high is None or conn.rcv_nxt is None:
        raise CaseError("reopen needs a connection the target has sent on (and closed) first")
    old_end = conn.target_high
    syn = _syn(env, step.mode)
    within = step.within or env.settings.profile.within
    reopen_wanted = step.mode != "timestamp-older"
    sres.expected = ("a SYN-ACK acknowledging the new SYN" + (", its ISN beyond the old incarnation's numbers"
                     if step.mode == "sequence-above" else "")) if reopen_wanted else "no SYN-ACK: an ACK, a RST or nothing"
    sent = env.link.send(syn)
    env.record("out", syn, sent.at, sres.index, f"a new SYN on the 4-tuple in TIME-WAIT ({step.mode})", frame=sent.frame)
    got = yield from env.take(lambda seg: True, timing.latest(sent.at, within))
    env.t_ref = env.t_sent = sent.at
    answer = "nothing"
    if got is not None:
        idx = env.record("in", got.segment, got.at, sres.index, "", got.frame)
        sres.observed.append(idx)
        answer = env.result.segments[idx].summary
    reopened = got is not None and got.segment.flags & (Flags.SYN | Flags.ACK | Flags.RST) == Flags.SYN | Flags.ACK
    if not reopened:
        if step.mode == "timestamp-newer":
            raise StepFailed(f"the SYN with a newer TSval did not reopen the connection from TIME-WAIT (answer: {answer})")
        if step.mode == "sequence-above":
            raise CaseUnobservable(f"the target did not reopen from TIME-WAIT (answer: {answer}), as MAY-2 leaves it free "
                                   "to: the new incarnation's ISN cannot be judged")
        sres.message = f"the old duplicate SYN was left to TIME-WAIT (answer: {answer})"
        return
    assert got is not None
    synack = got.segment
    if env.settings.cleanup:
        env.link.send(Segment(syn.src, syn.dst, syn.sport, syn.dport, seq=seqnum.add(syn.seq, 1), ack=0, flags=Flags.RST))
    if not reopen_wanted:
        raise StepFailed("a SYN whose TSval is older than the old connection's reopened it from TIME-WAIT (RFC 6191: an old "
                         "duplicate, to be dropped)")
    if synack.ack != seqnum.add(syn.seq, 1):
        raise StepFailed("the SYN-ACK reopening the connection does not acknowledge the new SYN + 1",
                         [Mismatch("ack", str(seqnum.add(syn.seq, 1)), str(synack.ack))])
    if step.mode == "sequence-above" and seqnum.lt(synack.seq, old_end):
        raise StepFailed("the reopened connection's ISN is not beyond the old incarnation's sequence numbers (MAY-2's "
                         "first condition): its old duplicates could fall in the new window",
                         [Mismatch("isn", f">= {old_end} (the old SND.NXT)", str(synack.seq))])
    sres.message = f"reopened from TIME-WAIT: {answer}"
