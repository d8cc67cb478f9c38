"""The client side's ISN statistics: an ``isn_sample`` step ``by: connect``.

The target's application connects ``count`` times, each connection to one of the case's spare
ports from the case's own target port (the target binds that number, as for ``app: connect``, so
the 4-tuples differ in the tester's port, as RFC 6528's F needs; a device that connects by itself,
``--listen``, picks its own ports, and each of its connections is the next SYN to arrive).  Each
SYN's ISN is kept with its arrival time, and the connection is refused at once with
``<SEQ=0><ACK=ISN+1><CTL=RST,ACK>`` (RFC 9293 3.10.7.3: an acceptable ACK with RST resets SYN-SENT),
so the target keeps nothing and connects afresh.  The sample is the one :func:`tcpconform.engine.isn.check`
judges, exactly as the server side's: a client ISN from a counter or a bare clock is as guessable as
a SYN-ACK's (NUMBER:JACK found both in embedded stacks).
"""

from __future__ import annotations

from collections.abc import Callable

from tcpconform.cases.model import IsnSampleStep
from tcpconform.engine import isn, timing
from tcpconform.engine.env import StepEnv
from tcpconform.engine.needs import NeedsContext
from tcpconform.engine.outcome import CaseError, StepFailed
from tcpconform.engine.waits import Waiting
from tcpconform.links.base import Received
from tcpconform.results import StepResult
from tcpconform.targets.base import AppFailed, Capability
from tcpconform.targets.device import DeviceTarget
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, FourTuple, Segment

SHOWN = 3
"""Samples whose SYN and refusal are on the case's ladder; the rest are figures."""


def needs(step: IsnSampleStep, context: NeedsContext) -> Capability:
    """The tester's SYNs need nothing; the target's connects need its application, unless it connects by itself."""
    return Capability.NONE if step.by == "syn" or "connect" in context.implied else Capability.APP


def sample(env: StepEnv, step: IsnSampleStep, sres: StepResult) -> Waiting[None]:
    if step.by == "syn":
        yield from isn.sample(env, step, sres)
        return
    ports = env.spare_ports[: step.count]
    if len(ports) < step.count:
        raise StepFailed(f"only {len(ports)} spare source ports for a sample of {step.count}")
    sres.expected = f"{step.count} SYNs, one per connect of the target's application"
    samples: list[isn.IsnSample] = []
    own, link, target = env.key, env.link, env.target
    for i, port in enumerate(ports):
        key = FourTuple(own.src, port, own.dst, own.dport)
        got = yield from _connect(env, key, step)
        seg = got.segment
        note = f"ISN sample {i + 1}/{step.count}"
        if i < SHOWN:
            env.record("in", seg, got.at, sres.index, note, got.frame)
        accepted = target.listen.accepted(key) if isinstance(target, DeviceTarget) else None
        samples.append(isn.IsnSample(got.at, accepted.real.dport if accepted is not None else port, seg.seq))
        refuse = Segment(key.src, key.dst, key.sport, key.dport, seq=0, ack=seqnum.add(seg.seq, 1),
                         flags=Flags.RST | Flags.ACK)
        sent = link.send(refuse)
        if i < SHOWN:
            env.record("out", refuse, sent.at, sres.index, f"{note}: refused", sent.frame)
        target.forget(key)
        if i + 1 < len(ports):
            yield from env.sleep(got.at + step.interval)
    figures = isn.isn_figures(samples)
    env.result.figures.update(figures)
    env.keep(isn.TakenSample(tuple(samples)))
    sres.message = isn.describe(figures)
    env.t_ref = link.now()


def _connect(env: StepEnv, key: FourTuple, step: IsnSampleStep) -> Waiting[Received]:
    """Have the target connect on ``key``; its SYN there, or the step fails (an agent's target) or
    errors (a device that connects by itself did not within ``--listen-wait``)."""
    target, now = env.target, env.link.now()
    if isinstance(target, DeviceTarget):
        target.app_connect(key)
        deadline = now + target.wait
    else:
        try:
            target.app_connect(key)
        except AppFailed as err:
            raise CaseError(f"the application could not connect ({err}): is another run or program using "
                            f"port {key.dport} of the target?") from None
        deadline = timing.latest(now, step.within or env.settings.profile.within)
    got = yield from env.take(_syn_on(key), deadline)
    if got is not None:
        return got
    if isinstance(target, DeviceTarget):
        target.listen.release(key)
        raise CaseError(f"no SYN from the device {target.ip} to {target.listen.where} within {target.wait:g} s "
                        "(it must reconnect after a refused connect)")
    raise StepFailed(f"no SYN within {timing.ms(deadline - now)} of the application's connect to port {key.sport}")


def _syn_on(key: FourTuple) -> Callable[[Segment], bool]:
    """The target's SYN on ``key`` (tester first); anything else on the sample's ports is let pass."""
    return lambda seg: (seg.key.reversed() == key and bool(seg.flags & Flags.SYN)
                        and not seg.flags & (Flags.ACK | Flags.RST))
