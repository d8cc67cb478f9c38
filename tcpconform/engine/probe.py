"""A ``state`` step judged from the wire, for a target that cannot report its TCP state.

The probe is a keep-alive (RFC 9293 3.8.4): one octet at the target's RCV.NXT - 1, an old
duplicate of what the target already took.  It is unacceptable (RFC 9293 3.10.7.4, first check),
so a live connection, synchronized or in SYN-RECEIVED, answers it with ``<SEQ=SND.NXT><ACK=RCV.NXT>
<CTL=ACK>`` and drops it; a connection that is gone answers with a RST (3.10.7.1 for CLOSED,
3.10.7.2 for an ACK reaching a listener).  The octet is there because a receiver rate-limits its
ACKs of out-of-window *empty* segments (Linux: one per 500 ms per connection, shared with the
challenge ACKs of RFC 5961) but never of data, so the answer does not depend on what the case
sent just before.

Invariants that keep the case's own exchange untouched:

- the probe carries the tester's last acknowledgment and window, unchanged, so it acknowledges
  nothing new, moves no window and is no duplicate ACK (it carries data); its octet ends at or
  before the target's RCV.NXT (the target's last ACK, which RCV.NXT never falls behind), so no
  text is taken and nothing reaches the application;
- the tester's bookkeeping (SND.NXT, the advertised edge) does not move;
- only the probe's answer is taken, and only one that arrived after the probe left: a RST, an
  ACK without text, FIN or SYN, or the target's FIN sent again (without text) with its ACK.
  Whatever else arrives meanwhile is given back, unrecorded, to the step after (:meth:`~tcpconform.engine.env.StepEnv.unread`);
- the probe and its answer are in the exchange, each noted as the probe's.

What the answer tells apart, per asserted state: an ACK proves a live connection; its ack says
whether the tester's FIN was taken (CLOSE_WAIT, LAST_ACK, CLOSING, TIME_WAIT) or not (SYN_RCVD,
ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2).  A RST proves there is no connection on the 4-tuple (CLOSED
or LISTEN: which of the two is not observed, since telling them apart takes a SYN, and a SYN would
open the connection later steps expect to open themselves).  The step's message says what was
observed and what was not.

No answer is not a verdict: the ACK of an unacceptable segment is a "should" (3.10.7.4), a stack
may drop a segment without the ACK bit before looking at its sequence number (Linux does, in
SYN-RECEIVED and after), and a wedged target is silent too.  Silence skips the step with that
reason, and the run's health check, not the probe, decides whether the target is alive.
"""

from __future__ import annotations

from tcpconform.cases.model import StateStep
from tcpconform.engine import timing
from tcpconform.engine.env import StepEnv
from tcpconform.engine.outcome import ProbeUnanswered, StepFailed, StepSkipped
from tcpconform.engine.waits import Waiting
from tcpconform.links.base import Received
from tcpconform.results import Mismatch, StepResult
from tcpconform.tcp import seqnum
from tcpconform.tcp.payload import TESTER_SALT, stream_bytes
from tcpconform.tcp.segment import Flags, Segment
from tcpconform.tcp.states import State

ALIVE = frozenset({State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2,
                   State.CLOSE_WAIT, State.CLOSING, State.LAST_ACK, State.TIME_WAIT})
"""States whose connection answers the probe with an ACK.

Not SYN-RECEIVED: before the tester's ACK the probe could carry none, and a segment without the
ACK bit on an embryonic connection is one a stack may drop unseen (RFC 9293 3.10.7.4) or answer
by resetting the connection it was about to accept; either way the probe, not the case, would
decide what the target does next."""
GONE = frozenset({State.CLOSED, State.LISTEN})
"""States with no connection on the 4-tuple: the probe draws a RST."""
PEER_FIN_TAKEN = frozenset({State.CLOSE_WAIT, State.LAST_ACK, State.CLOSING, State.TIME_WAIT})
"""States in which the target has taken the tester's FIN: its ACK covers it."""

FIN_AGAIN_WITHIN = 3.0
"""How long a probe for a connection asserted gone waits, when it draws no answer and the target's
FIN is unacknowledged: a live connection sends that FIN again after its retransmission timeout,
which starts at 1 s and doubles once on the first timeout (RFC 6298 2.1, 5.5), so a FIN seen
again within 3 s shows it alive; silence that long still proves nothing (it may have backed off)."""

PROBE_NOTE = "probe: a keep-alive (one old octet) asking the target's state"
ANSWER_NOTE = "probe answer"


def probe_state(env: StepEnv, step: StateStep, sres: StepResult) -> Waiting[None]:
    """Judge ``step`` by the target's answer to a probe (module docstring)."""
    try:
        asserted = State(step.state)
    except ValueError:
        asserted = None
    if asserted is None or asserted not in ALIVE | GONE:
        raise StepSkipped(f"not checked: the target cannot report its TCP state (no agent), and {step.state} "
                          "cannot be told from the wire without disturbing the connection")
    if asserted in ALIVE and env.conn.last_ack is None:
        raise StepSkipped(f"not checked: the target cannot report its TCP state (no agent), and nothing came from it "
                          f"yet, so no probe is known to be harmless to a connection in {asserted}")
    probe = probe_segment(env, asserted)
    sent = env.link.send(probe)
    env.record("out", probe, sent.at, sres.index, PROBE_NOTE, frame=sent.frame)
    within = env.settings.profile.within
    answer = yield from _answer(env, sent.at, timing.latest(sent.at, within))
    if answer is None and asserted in GONE and _target_fin_unacknowledged(env):
        # alive, its FIN must come again (RFC 9293 3.8.1): silence longer is an answer
        answer = yield from _answer(env, sent.at, timing.latest(sent.at, FIN_AGAIN_WITHIN))
    env.t_ref = env.link.now()
    if answer is None:  # silence tells nothing for sure: see the module's docstring
        # a connection the case asserts gone could be alive and silent (a RST ignored answers nothing),
        # so the case cannot pass on it; one asserted alive would have shown a wrong turn by a segment
        unanswered = ProbeUnanswered if asserted in GONE else StepSkipped
        raise unanswered(
            f"not observed: the target cannot report its TCP state (no agent), and the probe drew no answer "
            f"within {timing.ms(within)}; a live connection should acknowledge the old octet (RFC 9293 3.10.7.4, "
            "a \"should\"; some stacks drop an unacceptable or ACK-less segment without a word) and no "
            "connection answers it with a RST, so silence shows neither")
    idx = env.record("in", answer.segment, answer.at, sres.index, ANSWER_NOTE, frame=answer.frame)
    sres.observed.append(idx)
    summary = env.result.segments[idx].summary
    after = timing.ms(answer.at - sent.at)
    rst = bool(answer.segment.flags & Flags.RST)
    if asserted in GONE:
        if not rst:
            raise StepFailed(f"target state: expected {asserted}; the probe was answered with {summary} "
                             f"after {after}: the connection is alive",
                             [Mismatch("probe answer", "RST (no connection)", summary)])
        sres.message = (f"from the wire: the probe was answered with {summary} after {after}, so there is no "
                        "connection on this 4-tuple; whether the port listens (LISTEN) or not (CLOSED) is not "
                        "observed")
        return
    if rst:
        raise StepFailed(f"target state: expected {asserted}; the probe was answered with {summary} after {after}: "
                         "the connection is gone",
                         [Mismatch("probe answer", "ACK (a live connection)", summary)])
    if not answer.segment.flags & Flags.FIN:  # a FIN sent again moves nothing; what came before it
        env.conn.note_received(answer.segment)  # (given back, unread) is the next step's to account for
    fin = _tester_fin_end(env)
    message = f"from the wire: the probe was answered with {summary} after {after}, so the connection is alive"
    if fin is not None:
        took = seqnum.ge(answer.segment.ack, fin)
        if took != (asserted in PEER_FIN_TAKEN):
            said = "took" if took else "has not taken"
            raise StepFailed(f"target state: expected {asserted}; the target's ACK of the probe ({summary}) says it "
                             f"{said} the tester's FIN",
                             [Mismatch("ack", ("covers" if not took else "below") + " the tester's FIN",
                                       str(env.conn.tester_written(answer.segment.ack)))])
        message += f" and {'took' if took else 'has not taken'} the tester's FIN"
    sres.message = message + f"; that it is {asserted} rather than another live state is not observed"


def probe_segment(env: StepEnv, asserted: State) -> Segment:
    """The keep-alive for the case's connection: one octet at the target's RCV.NXT - 1 (from its last
    ACK) carrying the tester's last acknowledgment and window; an empty ACK at SND.NXT when nothing
    came from the target yet (only where no connection is asserted: it draws a RST from no
    connection).  Without an acknowledgment of the tester's own to repeat, the probe has no ACK bit
    where a live connection is asserted (SYN_RCVD: an ACK would complete the handshake), and
    acknowledges the target's RCV.NXT as the tester knows it where none is."""
    conn, key = env.conn, env.key
    last = _last_ack_sent(env)
    if last is not None:
        flags, ack, window = Flags.ACK, last.ack, last.window
    elif asserted in GONE:
        flags, ack, window = Flags.ACK, conn.rcv_nxt or 0, env.case.tester_window
    else:
        flags, ack, window = Flags.NONE, 0, env.case.tester_window
    if conn.last_ack is None:
        return Segment(key.src, key.dst, key.sport, key.dport, seq=conn.snd_nxt, ack=ack, flags=flags, window=window)
    seq = seqnum.add(conn.last_ack, -1)
    offset = seqnum.diff(seq, seqnum.add(conn.tester_isn, 1))
    octet = stream_bytes(offset, 1, TESTER_SALT) if offset >= 0 else b"\x00"
    return Segment(key.src, key.dst, key.sport, key.dport, seq=seq, ack=ack, flags=flags, window=window,
                   payload=octet)


def _answer(env: StepEnv, sent_at: float, deadline: float) -> Waiting[Received | None]:
    """The probe's answer, on the probed connection and after the probe left; every other segment
    seen meanwhile goes back to the next step."""
    others: list[Received] = []
    try:
        while True:
            got = yield from env.next(deadline)
            if got is None:
                return None
            on_probed = got.segment.key.reversed() == env.key  # not another connection of the case's
            if on_probed and got.at >= sent_at and (_answers(got.segment) or _fin_again(env, got.segment, others)):
                return got
            others.append(got)
    finally:
        env.unread(others)


def _answers(seg: Segment) -> bool:
    if seg.flags & Flags.RST:
        return True
    return bool(seg.flags & Flags.ACK) and not seg.payload and not seg.flags & (Flags.SYN | Flags.FIN)


def _fin_again(env: StepEnv, seg: Segment, others: list[Received]) -> bool:
    """``seg`` repeats, without text, a FIN the target already sent: a live connection in LAST_ACK,
    FIN_WAIT_1 or CLOSING whose FIN is unacknowledged may answer the probe so (a BSD-derived stack
    sends its FIN again with every ACK until it is acknowledged)."""
    if not (seg.flags & Flags.FIN and seg.flags & Flags.ACK) or seg.payload or seg.flags & (Flags.SYN | Flags.RST):
        return False
    seen = [r.segment for r in env.result.segments if r.direction == "in" and isinstance(r.segment, Segment)]
    seen += [o.segment for o in others]
    return any(isinstance(x, Segment) and x.flags & Flags.FIN and x.seq == seg.seq and x.sport == seg.sport
               and x.dport == seg.dport for x in seen)


def _target_fin_unacknowledged(env: StepEnv) -> bool:
    """The target sent a FIN on the case's connection that the tester has not acknowledged."""
    fins = [rec.segment for rec in env.result.segments if rec.direction == "in" and isinstance(rec.segment, Segment)
            and rec.segment.flags & Flags.FIN and rec.segment.sport == env.key.dport and rec.segment.dport == env.key.sport]
    if not fins:
        return False
    fin = fins[-1]
    end = seqnum.add(fin.seq, len(fin.payload) + 1)
    last = _last_ack_sent(env)
    return last is None or seqnum.lt(last.ack, end)


def _last_ack_sent(env: StepEnv) -> Segment | None:
    """The tester's last ACK-bearing segment (not a RST, not a probe) on the case's connection."""
    for rec in reversed(env.result.segments):
        seg = rec.segment
        if (rec.direction == "out" and isinstance(seg, Segment) and seg.sport == env.key.sport
                and seg.flags & Flags.ACK and not seg.flags & Flags.RST and rec.note != PROBE_NOTE):
            return seg
    return None


def _tester_fin_end(env: StepEnv) -> int | None:
    """The sequence number just past the tester's FIN on the case's connection, if it sent one."""
    for rec in reversed(env.result.segments):
        seg = rec.segment
        if rec.direction == "out" and isinstance(seg, Segment) and seg.sport == env.key.sport \
                and seg.flags & Flags.FIN:
            return seqnum.add(seg.seq, seg.seg_len)
    return None
