"""The ``half_open`` step: a listening port keeps answering while connections on it are half open
(RFC 9293 3.9.1.1, MUST-42).

The step opens ``count`` connections from as many spare source ports and leaves each in
SYN-RECEIVED (its SYN-ACK taken, never acknowledged); one more SYN, from another spare port, must
still get its SYN-ACK.  Then every one of the ``count + 1`` is completed with the ACK of its SYN-ACK
and one octet of data, which must be acknowledged on that connection alone: each is a connection of
its own, not a slot the others share.  Every SYN-ACK must acknowledge its SYN + 1.  Whatever else
arrives on those ports while the step waits (a retransmitted SYN-ACK) is no answer and is let pass;
the step resets every connection it opened before it ends, so the target keeps nothing, and the
case's own connection is never used.  Like an ISN sample it needs the run's spare ports, so the case
runs alone.
"""

from __future__ import annotations

from collections.abc import Callable

from tcpconform.cases.model import HalfOpenStep
from tcpconform.engine import timing
from tcpconform.engine.env import StepEnv
from tcpconform.engine.outcome import StepFailed
from tcpconform.engine.waits import Waiting
from tcpconform.results import Mismatch, StepResult
from tcpconform.tcp import seqnum
from tcpconform.tcp.payload import TESTER_SALT, stream_bytes
from tcpconform.tcp.segment import Flags, FourTuple, Segment


def half_open(env: StepEnv, step: HalfOpenStep, sres: StepResult) -> Waiting[None]:
    """Open ``step.count`` half-connections, one more that must be answered, then complete them all."""
    ports = env.spare_ports[: step.count + 1]
    if len(ports) < step.count + 1:
        raise StepFailed(f"only {len(ports)} spare source ports for {step.count} half-open connections and one more")
    sres.expected = (f"a SYN-ACK to each of {step.count + 1} SYNs from as many ports while the earlier ones stay "
                     "half open; then each connection completed takes its octet")
    own, isn, within = env.key, env.conn.tester_isn, step.within or env.settings.profile.within
    keys = [FourTuple(own.src, port, own.dst, own.dport) for port in ports]
    opened: list[FourTuple] = []
    try:
        target_isn: dict[int, int] = {}
        for i, key in enumerate(keys):
            what = f"half-open connection {i + 1}/{step.count}" if i < step.count else "the SYN beyond them"
            syn = _segment(key, isn, Flags.SYN, options=(("MSS", env.case.tester_mss or 536),), window=env.case.tester_window)
            at = _send(env, syn, sres, what)
            opened.append(key)
            got = yield from env.take(_from(key.sport, lambda seg: bool(seg.flags & Flags.SYN)), timing.latest(at, within))
            if got is None:
                held = f"while {i} connection(s) on the port wait in SYN-RECEIVED" if i else "on the listening port"
                raise StepFailed(f"no SYN-ACK to the SYN from port {key.sport} within {_ms(within)} {held}")
            env.record("in", got.segment, got.at, sres.index, what, got.frame)
            if got.segment.ack != seqnum.add(isn, 1) or not got.segment.flags & Flags.ACK:
                raise StepFailed(f"the SYN-ACK to the SYN from port {key.sport} does not acknowledge the SYN + 1",
                                 [Mismatch("ack", str(seqnum.add(isn, 1)), str(got.segment.ack))])
            target_isn[key.sport] = got.segment.seq
        for key in keys:
            ack = seqnum.add(target_isn[key.sport], 1)
            _send(env, _segment(key, seqnum.add(isn, 1), Flags.ACK, ack=ack, window=env.case.tester_window),
                  sres, "completes the handshake")
            data = _segment(key, seqnum.add(isn, 1), Flags.ACK | Flags.PSH, ack=ack, window=env.case.tester_window,
                            payload=stream_bytes(0, 1, TESTER_SALT))
            at = _send(env, data, sres, "one octet")
            end = seqnum.add(isn, 2)
            got = yield from env.take(_from(key.sport, _acks_or_resets(end)), timing.latest(at, within))
            if got is None or got.segment.flags & Flags.RST:
                if got is not None:
                    env.record("in", got.segment, got.at, sres.index, "", got.frame)
                how = "was reset" if got is not None else f"did not acknowledge it within {_ms(within)}"
                raise StepFailed(f"the connection from port {key.sport}, completed, took no octet: it {how}")
            env.record("in", got.segment, got.at, sres.index, "acknowledges the octet", got.frame)
        sres.message = f"{step.count} connections left half open; one more answered; all {len(keys)} completed"
    finally:
        for key in opened if env.settings.cleanup else ():
            for seq in (seqnum.add(isn, 1), seqnum.add(isn, 2)):
                env.link.send(_segment(key, seq, Flags.RST))
        env.t_ref = env.link.now()


def _segment(key: FourTuple, seq: int, flags: Flags, ack: int = 0, window: int = 0, payload: bytes = b"",
             options: tuple[tuple[str, object], ...] = ()) -> Segment:
    return Segment(key.src, key.dst, key.sport, key.dport, seq=seq, ack=ack, flags=flags, window=window,
                   options=options, payload=payload)


def _send(env: StepEnv, seg: Segment, sres: StepResult, note: str) -> float:
    sent = env.link.send(seg)
    env.record("out", seg, sent.at, sres.index, f"port {seg.sport}: {note}", sent.frame)
    return sent.at


def _from(sport: int, wanted: Callable[[Segment], bool]) -> Callable[[Segment], bool]:
    """A segment of the connection from ``sport`` that ``wanted`` takes; anything else is let pass."""
    return lambda seg: seg.dport == sport and wanted(seg)


def _acks_or_resets(end: int) -> Callable[[Segment], bool]:
    """The answer to the octet: its acknowledgment (up to ``end``), or a RST (no such connection)."""
    return lambda seg: bool(seg.flags & Flags.RST) or (bool(seg.flags & Flags.ACK) and seg.ack == end)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"
