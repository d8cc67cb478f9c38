"""The ``challenge_burst`` step: challenge ACKs are throttled (RFC 5961 7).

On an established connection the tester sends ``count`` segments back to back, each of which
deserves a challenge ACK on its own: a RST in the window but not at RCV.NXT (RFC 5961 3.2) or a SYN
(RFC 5961 4.2).  Their sequence numbers step through the window the target last offered (RCV.NXT + 1
upwards, never beyond it), so none is dropped for being outside it.  Then the step collects what
comes until ``quiet`` after the last one, and judges:

- a RST or FIN after a challenge ACK fails: the stack challenged, then let a later trigger of the
  same kind end the connection (a throttle that gives way, RFC 5961 3.2, 4.2);
- a RST or FIN before any challenge ACK, or no challenge ACK at all, shows no throttle, only a stack
  that does not challenge (it resets on the first trigger, as RFC 793 did, or ignores them): the cases
  of RFC 5961 3.2 and 4.2 judge that on one segment, so this case is skipped, not failed twice over;
- more than ``at_most`` fails the throttle: RFC 5961 7 fixes no rate, so ``at_most`` is set far
  above what throttles do (Linux: one per 500 ms per connection, ``net.ipv4.tcp_invalid_ratelimit``;
  FreeBSD: 5 per second, ``ack_war_cnt``; the RFC's example: 10 in 5 s), and only a stack answering
  nearly every trigger exceeds it.

A challenge ACK is a pure ACK (no text, SYN, FIN or RST); the count is the figure
``challenge_acks``, with ``challenge_triggers`` and how long the burst took to send.  The connection
a target left with nothing to acknowledge the burst with (a window under two octets) cannot show a
throttle: the case is skipped.
"""

from __future__ import annotations

from tcpconform.cases.model import ChallengeBurstStep
from tcpconform.engine import timing
from tcpconform.engine.env import StepEnv
from tcpconform.engine.outcome import CaseError, CaseUnobservable, StepFailed
from tcpconform.engine.waits import Waiting
from tcpconform.results import Mismatch, StepResult
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, Segment

__all__ = ["ChallengeBurstStep", "burst", "named", "waits"]

SHOWN = 3
"""Triggers and challenge ACKs on the case's ladder; the rest are figures."""


def burst(env: StepEnv, step: ChallengeBurstStep, sres: StepResult) -> Waiting[None]:
    conn, key, link = env.conn, env.key, env.link
    if conn.rcv_nxt is None:
        raise CaseError("challenge_burst needs an established connection: nothing came from the target yet")
    window = _offered(env)
    if window < 2:
        raise CaseUnobservable(f"the target's window is {window}: no RST or SYN fits it but at RCV.NXT, so none "
                               "deserves a challenge ACK")
    span = min(step.count, window - 1)
    what = "RST" if step.trigger == "rst" else "SYN"
    sres.expected = f"1 to {step.at_most} challenge ACK(s) to {step.count} in-window {what}s, the connection kept"
    flags = Flags.RST if step.trigger == "rst" else Flags.SYN
    first = last = link.now()
    for i in range(step.count):
        seg = Segment(key.src, key.dst, key.sport, key.dport, seq=seqnum.add(conn.snd_nxt, 1 + i % span),
                      ack=0, flags=flags, window=env.case.tester_window)
        sent = link.send(seg)
        last = sent.at
        if i == 0:
            first = sent.at
        if i < SHOWN:
            env.record("out", seg, sent.at, sres.index, f"burst: trigger {i + 1}/{step.count}", sent.frame)
    acks = 0
    while (got := (yield from env.next(last + step.quiet))) is not None:
        seg = got.segment
        pure_ack = bool(seg.flags & Flags.ACK) and not seg.payload and not seg.flags & (Flags.SYN | Flags.FIN | Flags.RST)
        if pure_ack:
            acks += 1
        if not pure_ack or acks <= SHOWN:
            idx = env.record("in", seg, got.at, sres.index, f"challenge ACK {acks}" if pure_ack else "", got.frame)
            sres.observed.append(idx)
        if seg.flags & Flags.RST or seg.flags & Flags.FIN:
            summary = env.result.segments[-1].summary
            if acks == 0:
                raise CaseUnobservable(f"the target ended the connection before any challenge ACK (it sent {summary}): "
                                       f"it does not challenge an in-window {what} (the cases of RFC 5961 "
                                       f"{'3.2' if what == 'RST' else '4.2'} judge that), so whether it throttles "
                                       "challenge ACKs is not observed")
            raise StepFailed(f"the burst of {what}s ended the connection: the target sent {summary}",
                             [Mismatch("segment", "challenge ACKs only", summary)])
    env.result.figures.update({"challenge_triggers": step.count, "challenge_acks": acks,
                               "challenge_burst_ms": round((last - first) * 1000, 3)})
    sent_in = timing.ms(last - first)
    if acks == 0:
        raise CaseUnobservable(f"no challenge ACK to {step.count} in-window {what}s (sent in {sent_in}) within "
                               f"{timing.ms(step.quiet)} of the last: the target answers none (the cases of RFC 5961 "
                               "3.2 and 4.2 judge that), so whether it throttles them is not observed")
    if acks > step.at_most:
        raise StepFailed(f"{acks} challenge ACKs to {step.count} in-window {what}s sent in {sent_in}: not throttled "
                         f"(at most {step.at_most} allowed; RFC 5961 7 suggests no more than 10 in 5 s)",
                         [Mismatch("challenge ACKs", f"1..{step.at_most}", str(acks))])
    sres.message = f"{acks} challenge ACK(s) to {step.count} in-window {what}s sent in {sent_in}"
    env.t_ref = link.now()


def waits(step: ChallengeBurstStep) -> float:
    """The waiting the step declares: its quiet time after the burst."""
    return step.quiet


def named(step: ChallengeBurstStep) -> str | None:
    """The requirement the step names."""
    return step.requirement


def _offered(env: StepEnv) -> int:
    """The window the target last offered, scaled by its Window Scale, in octets."""
    return (env.conn.last_window or 0) << env.conn.edge_shift
