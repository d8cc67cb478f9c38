"""The step kinds: what the engine does for each kind of step, and how long it may wait.

Rule: every step kind is one row of :data:`STEPS`, keyed by the case model's step type; nothing else
in the engine switches on step types.  A row carries the handler that runs the step, the waiting the
step declares (the scheduler starts long cases first), the requirement the step names, what it needs
of the target, whether it uses spare source ports.  A new step kind is a row here (and its builder).

A handler takes the case through :class:`~tcpconform.engine.env.StepEnv`, the step, and the step's
result to fill in; it may wait (it is a generator, resumed by the scheduler), it ends the step by
returning, and it ends it otherwise by raising what :mod:`tcpconform.engine.outcome` names.  A step
stops at its first failure but reports every mismatching field and every segment it saw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from tcpconform.cases.model import (
    AppStep,
    ExpectStep,
    FlightStep,
    HalfOpenStep,
    IcmpStep,
    IsnCheckStep,
    IsnSampleStep,
    NegotiatedStep,
    OptionsSpec,
    ReconnectStep,
    SegmentSpec,
    SendStep,
    SilenceStep,
    StateStep,
    Step,
    WaitStep,
)
from tcpconform.engine import challenge, control, fill, flight, halfopen, icmp, isn, isnclient, reopen, services, slowread, timing
from tcpconform.engine.connection import TesterConnection
from tcpconform.engine.control import first_diff
from tcpconform.engine.env import StepEnv, transmit
from tcpconform.engine.ipsend import described, ip_mismatches, route_skips, with_ip
from tcpconform.engine.matching import ack_on_fin_again, check_invariants, match, only_push_missing, tolerated
from tcpconform.engine.needs import NeedsContext, app_needs, needs_nothing, send_needs
from tcpconform.engine.negotiation import check_negotiated
from tcpconform.engine.outcome import CaseError, CaseUnobservable, StepFailed
from tcpconform.engine.waits import Waiting
from tcpconform.links.base import Received
from tcpconform.results import Mismatch, StepResult
from tcpconform.targets.base import Capability
from tcpconform.tcp import seqnum
from tcpconform.tcp.payload import TESTER_SALT, stream_bytes
from tcpconform.tcp.segment import Flags, Segment, default_mss

S = TypeVar("S", bound=Step)
Handler = Callable[[StepEnv, S, StepResult], Waiting[None]]

def at_once(run: Callable[[StepEnv, S, StepResult], None]) -> Handler[S]:
    """A handler for a step that never waits."""

    def handler(env: StepEnv, step: S, sres: StepResult) -> Waiting[None]:
        run(env, step, sres)
        yield from ()

    return handler


# -- send ----------------------------------------------------------------------------------------
def build_segment(env: StepEnv, spec: SegmentSpec) -> Segment:
    """The segment a send step's spec describes, on the wire's numbering."""
    conn = env.conn
    flags = spec.flags
    if not isinstance(flags, Flags):
        raise CaseError("a segment to send needs explicit flags")
    seq = conn.tester_wire(conn.resolve_send(spec.seq, "seq")) if spec.seq is not None else conn.snd_nxt
    if spec.ack is not None:
        ack = conn.target_wire(conn.resolve_send(spec.ack, "ack"))
    elif flags & Flags.ACK:
        if conn.rcv_nxt is None:
            raise CaseError("an ACK to send needs an ack number: nothing was received from the target yet")
        ack = conn.rcv_nxt
    else:
        ack = 0
    window = conn.resolve_send(spec.window, "window") if spec.window is not None else env.case.tester_window
    if conn.hold and flags & (Flags.ACK | Flags.SYN) and not flags & Flags.RST:
        window = 0  # an echo is kept holding its data (services.hold_byte)
    length = conn.resolve_send(spec.length, "len") if spec.length is not None else 0
    if spec.payload is not None:
        payload = spec.payload
    elif length == 0:
        payload = b""
    else:
        first = seqnum.add(seq, 1) if flags & Flags.SYN else seq
        offset = seqnum.diff(first, seqnum.add(conn.tester_isn, 1))
        if offset < 0:
            raise CaseError(f"{length} bytes of data at seq {conn.tester_written(seq)}: before the tester's first byte")
        payload = stream_bytes(offset, length, TESTER_SALT)
    options: tuple[tuple[str, object], ...] = ()
    if isinstance(spec.options, OptionsSpec):
        options = tuple(_option_value(conn, o.kind, o.value) for o in spec.options.items)
    urgptr = conn.resolve_send(spec.urgptr, "urgptr") if spec.urgptr is not None else 0
    key = env.key
    return Segment(
        key.src, key.dst, key.sport, key.dport, seq=seq, ack=ack, flags=flags,
        window=window, urgptr=urgptr, options=options, payload=payload,
        reserved=spec.reserved or 0, chksum=spec.chksum, dataofs=spec.dataofs,
    )


def _option_value(conn: TesterConnection, kind: str, value: object) -> tuple[str, object]:
    if value is None or isinstance(value, bytes):
        return (kind, value)
    if isinstance(value, tuple):
        if kind == "SAck":  # SACK edges are the target's sequence numbers, written in the case's numbering
            return (kind, tuple(conn.target_wire(conn.resolve_send(v, kind)) for v in value))
        return (kind, tuple(conn.resolve_send(v, kind) for v in value))
    return (kind, conn.resolve_send(value, kind))  # type: ignore[arg-type]


def send(env: StepEnv, step: SendStep, sres: StepResult) -> None:
    flags = step.segment.flags
    hold = env.conn.hold or env.conn.hold_at_fin
    if hold and not env.conn.held and isinstance(flags, Flags) and flags & Flags.FIN and flags & Flags.ACK:
        transmit(env, services.hold_byte(env.conn, env.key), sres.index, "for the echo to hold: CLOSE_WAIT lasts")
        env.conn.driven += 1  # the case's numbers count past it (after it is shown in them)
    seg = build_segment(env, step.segment)
    note = ""
    if step.ip is not None:
        seg = with_ip(seg, step.ip, env.key.dport)
        note = described(seg, step.ip)
    urgent = services.urgent_unobservable(env.target, seg)
    if urgent is not None:
        raise urgent
    if seg.flags & Flags.SYN:
        mss = seg.option("MSS")
        env.conn.mss_offered = mss if isinstance(mss, int) else (env.case.tester_mss or default_mss(env.key.src))
        env.conn.sack_offered = any(kind == "SAckOK" for kind, _ in seg.options)
        env.conn.note_offers(seg)
    env.t_ref = env.t_sent = transmit(env, seg, sres.index, note)


# -- expect and silence --------------------------------------------------------------------------
def _received(env: StepEnv, got: Received, sres: StepResult) -> int:
    """Record a segment the step saw; returns its index."""
    idx = env.record("in", got.segment, got.at, sres.index, frame=got.frame)
    sres.observed.append(idx)
    return idx


def _invariant_failure(env: StepEnv, got: Received, idx: int, also: list[Mismatch] | None = None) -> StepFailed | None:
    broken = check_invariants(got.segment, env.conn, env.case.invariants, got.checksum)
    if not broken:
        return None
    names = ", ".join(name for name, _ in broken)
    mismatches = [Mismatch(f"{m.field} ({name})", m.expected, m.actual) for name, m in broken]
    return StepFailed(f"segment {env.result.segments[idx].summary} breaks {names}",
                      mismatches + (also or []), requirement=broken[0][0])


def expect(env: StepEnv, step: ExpectStep, sres: StepResult) -> Waiting[None]:
    """Wait for the segment ``step`` describes, up to its bound (and the tolerance), counted from
    the end of the previous step.

    Only a segment that arrived after the tester's last send (less the step's ``early``) can be its answer: one that came
    before it is no answer to it (it is recorded with its time, judged as tolerated or unexpected,
    and never matched).  When the bound passes, the step listens a tolerance longer, only so that
    its failure can say that the segment came late, and when.
    """
    conn, spec, segments = env.conn, step.segment, env.result.segments
    within = step.within if step.within is not None else env.settings.profile.within
    start = env.t_ref
    deadline = timing.latest(start, within)
    sres.expected = spec.text
    seen = _Seen()
    if isinstance(spec.flags, Flags) and spec.flags & Flags.FIN:
        fin = services.earlier_fin(conn, lambda seg: match(spec, seg, conn, step.isn).ok)
        if fin is not None:
            sres.message = f"matched: the service's FIN, which came before this step ({conn.summary_in(fin)})"
            return
    while True:
        got = yield from env.next(deadline)
        if got is None:
            failure = yield from _late(env, step, sres, start, within, seen)
            raise failure
        seg = services.as_if_all_taken(env.target, conn, got.segment)
        early = got.at < env.t_sent - step.early
        result = match(spec, seg, conn, step.isn)
        if result.anchor_isn is not None and not early:
            conn.target_isn = result.anchor_isn  # the target's first SYN defines its numbering
        if result.ok and not early:
            result.mismatches.extend(_data_mismatches(env, seg, result.anchor_isn))
            result.mismatches.extend(ip_mismatches(step.ip, got, env.key))
        idx = _received(env, got, sres)
        broken = _invariant_failure(env, got, idx, result.mismatches)
        if broken is not None:
            raise broken
        if result.ok and early:
            conn.note_received(seg)
            segments[idx].note = f"{_before_send(env, got)}: not the answer to it"
            seen.early.append(idx)
            continue
        if result.ok:
            conn.captured.update(result.captures)
            conn.note_received(seg)
            if step.measure:
                env.result.figures[f"{step.measure}_ms"] = round((got.at - start) * 1000, 1)
            env.t_ref = got.at
            segments[idx].note = "matched"
            return
        ahead = services.unseen(env.target, conn, seg)
        overtaken = match(spec, seg.with_(seq=seqnum.add(seg.seq, -ahead)), conn, step.isn) if ahead else None
        if overtaken is not None and overtaken.ok and not early:
            conn.captured.update(overtaken.captures)
            conn.note_received(seg)
            env.t_ref = got.at
            segments[idx].note = f"matched: its seq is past {ahead} byte(s) of the service's still in flight"
            return
        if not early and ack_on_fin_again(spec, seg, conn, step.isn):
            conn.note_received(seg)
            env.t_ref = got.at
            segments[idx].note = "matched: the ACK rides on the target's FIN, sent again"
            return
        head = services.echo_head(env.target, conn, seg) if not early else 0
        if head:  # the echo's own bytes first (taken: they are verified), then the step's
            own_part, tail = services.split(seg, head)
            services.take(conn, own_part)
            joined = match(spec, tail, conn, step.isn)
            if joined.ok:
                joined.mismatches.extend(_data_mismatches(env, tail, None))
            if joined.ok:
                conn.captured.update(joined.captures)
                conn.note_received(seg)
                env.t_ref = got.at
                segments[idx].note = f"matched: its last {len(tail.payload)} bytes, after {head} the echo sent back first"
                return
        service = _service_data(env, seg)
        if service is not None and not early and _piggybacks(spec, seg, conn, step):
            conn.captured.update(match(spec, services.bare(seg), conn).captures)
            services.take(conn, seg)
            env.t_ref = got.at
            segments[idx].note = f"matched: the ACK rides on {services.RIDES[service]}"
            return
        if service is not None and not early and seg.payload and seg.flags & Flags.FIN:
            services.take(conn, services.data_of(seg))  # the service's line, then the FIN the step may expect
            rest = match(spec, services.after_data(seg), conn, step.isn)
            if rest.ok:  # the FIN is the step's: it takes no service space
                conn.captured.update(rest.captures)
                conn.note_received(seg)
                env.t_ref = got.at
                segments[idx].note = "matched: the FIN after the service's data"
                _ack_service(env, sres)
                return
        if service is not None and not early and match(spec, services.bare(seg), conn, step.isn).ok:
            seen.ambiguous.append(idx)  # the expected ACK rides on it, but it is no new ACK: no evidence either way
        why = (tolerated(seg, step.tolerate, spec, conn) or service or services.acks_driven(env.target, conn, seg)
               or services.window_probe(conn, seg))
        if service is not None:  # the service's bytes, whichever reason lets them pass
            services.take(conn, seg)
            _ack_service(env, sres)
        else:
            conn.note_received(seg)
        if why is not None:
            segments[idx].note = f"tolerated: {why}"
            seen.tolerated.append((idx, why, result.mismatches))
            continue
        when = _before_send(env, got) if early else f"after {timing.ms(got.at - start)}"
        push = "push" if only_push_missing(spec, seg, result) else None
        raise StepFailed(f"unexpected segment: {segments[idx].summary} ({when})"
                         + ("; it differs only in lacking the PSH bit" if push else ""), result.mismatches, requirement=push)


@dataclass
class _Seen:
    """What an expect step saw that was not its answer, for its failure to explain."""

    tolerated: list[tuple[int, str, list[Mismatch]]] = field(default_factory=list)
    early: list[int] = field(default_factory=list)
    """Segments matching the step that arrived before the tester's last send."""
    ambiguous: list[int] = field(default_factory=list)
    """The service's own segments, after the tester's send, carrying the acknowledgment the step
    expects but not a new one: the answer may have ridden on them, or not."""


def _before_send(env: StepEnv, got: Received) -> str:
    return f"it arrived {timing.ms(env.t_sent - got.at)} before the tester's send"


def _late(env: StepEnv, step: ExpectStep, sres: StepResult, start: float, within: float,
          seen: _Seen) -> Waiting[StepFailed | CaseUnobservable]:
    """The failure of an expect step whose bound passed: listen a tolerance longer, to say whether
    the segment came late and when (it fails all the same)."""
    until = timing.explain_until(start, within)
    late: list[int] = []
    while True:
        got = yield from env.next(until)
        if got is None:
            return _timeout(env, step, within, seen, late)
        idx = _received(env, got, sres)
        segment = env.result.segments[idx]
        if match(step.segment, got.segment, env.conn, step.isn).ok:
            segment.note = "came after the bound"
            bound = timing.latest(start, within) - start
            came = got.at - start
            return StepFailed(
                f"expected '{step.segment.text}' within {timing.ms(within)} (with the tolerance, "
                f"{timing.ms(bound)}); it came after {timing.ms(came)}: {segment.summary}",
                [Mismatch("arrival", f"<= {timing.ms(bound)}", timing.ms(came))])
        segment.note = "after the bound"
        late.append(idx)


def silence(env: StepEnv, step: SilenceStep, sres: StepResult) -> Waiting[None]:
    """Nothing but tolerated segments for ``step.duration``: a lower bound, so a segment within the
    tolerance of the window's end does not break it (it is left for the next step)."""
    start = env.link.now()
    edge, end = timing.earliest(start, step.duration), start + step.duration
    sres.expected = f"silence for {timing.ms(step.duration)}"
    segments = env.result.segments
    while True:
        got = yield from env.next(edge)
        if got is None:
            yield from env.sleep(end)
            env.t_ref = env.link.now()
            return
        seg = got.segment
        idx = _received(env, got, sres)
        broken = _invariant_failure(env, got, idx)
        if broken is not None:
            raise broken
        service = _service_data(env, seg)
        why = (tolerated(seg, step.tolerate, None, env.conn) or service
               or services.acks_driven(env.target, env.conn, seg) or services.window_probe(env.conn, seg))
        if service is not None:  # the service's bytes, whichever reason lets them pass
            services.take(env.conn, seg)
            _ack_service(env, sres)
        else:
            env.conn.note_received(seg)
        if why is None:
            when = _before_send(env, got) if got.at < env.t_sent else f"after {timing.ms(got.at - start)}"
            raise StepFailed(f"expected silence for {timing.ms(step.duration)}, got {segments[idx].summary} "
                             f"({when})", [Mismatch("segment", "none", segments[idx].summary)])
        segments[idx].note = f"tolerated: {why}"


def _ack_service(env: StepEnv, sres: StepResult) -> None:
    """Send the ACK a client owes the service for its own data (:func:`services.owed_ack`), if any."""
    ack = services.owed_ack(env.target, env.conn, env.key)
    if ack is not None:
        transmit(env, ack, sres.index, "the ACK of the service's own data, as its client's")


def _service_data(env: StepEnv, seg: Segment) -> str | None:
    """Why ``seg`` is what the target's service sent by itself (:mod:`tcpconform.engine.services`),
    or ``None``: it may come at any time, and carry the ACK a step expects."""
    return services.own(env.target, env.conn, seg)


def _data_mismatches(env: StepEnv, seg: Segment, anchor: int | None) -> list[Mismatch]:
    """Data from the target must be the bytes its application wrote, at its offset from the latest SYN."""
    salt = env.target.data_salt
    if not seg.payload or salt is None:
        return []
    first = next((i for i in (anchor, env.conn.latest_isn, env.conn.target_isn) if i is not None), None)
    if first is None:
        return []
    offset = seqnum.diff(seg.seq, seqnum.add(first, 1))
    if offset < 0:  # at the ISN, before the application's first byte: a keep-alive's garbage octet (MAY-6)
        return []
    expected = stream_bytes(offset, len(seg.payload), salt)
    if seg.payload == expected:
        return []
    return [Mismatch("payload", f"application bytes {offset}..{offset + len(seg.payload)}",
                     "different bytes (" + first_diff(expected, seg.payload) + ")")]


def _piggybacks(spec: SegmentSpec, seg: Segment, conn: TesterConnection, step: ExpectStep) -> bool:
    """A pure ACK is expected and this segment of the service's (its data, its FIN) carries exactly
    that acknowledgment, at the target's next sequence number, and the acknowledgment is new.  A
    service sends by itself, so an ACK number the target already sent, riding on its data, is no
    evidence that it answered the tester's last segment (a duplicate ACK is seen only bare)."""
    if spec.flags != Flags.ACK or spec.length not in (None, 0):
        return False
    if conn.last_ack is not None and not seqnum.gt(seg.ack, conn.last_ack):
        return False
    return match(spec, services.bare(seg), conn, step.isn).ok


def _timeout(env: StepEnv, step: ExpectStep, within: float, seen: _Seen,
             late: list[int]) -> StepFailed | CaseUnobservable:
    text = f"no segment matching '{step.segment.text}' within {timing.ms(within)}"
    records = env.result.segments
    notes = []
    if seen.early:
        first = records[seen.early[0]]
        notes.append(f"{len(seen.early)} matching segment(s) arrived before the tester's send, "
                     f"so answered something earlier: {first.summary} ({first.note})")
    if late:
        notes.append(f"{len(late)} other segment(s) after the bound, the first: {records[late[0]].summary}")
    if seen.ambiguous:
        first = records[seen.ambiguous[0]]
        return CaseUnobservable(
            f"{text}, but the service's own data came after the tester's send carrying that acknowledgment "
            f"({first.summary}); a stack may answer so, and the number is not new, so whether it answered "
            "cannot be told")
    if not seen.tolerated:
        return StepFailed(text + ("; " + "; ".join(notes) if notes else "; nothing arrived"))
    last_idx, why, mismatches = seen.tolerated[-1]
    text += f"; {len(seen.tolerated)} tolerated segment(s) seen, the last: {records[last_idx].summary} ({why})"
    # How the closest candidate differs, so "never reached 1025" reads as such.
    return StepFailed("; ".join([text, *notes]), mismatches)


def wait(env: StepEnv, step: WaitStep, sres: StepResult) -> Waiting[None]:
    yield from env.sleep(env.link.now() + step.duration)
    env.t_ref = env.link.now()


def reconnect(env: StepEnv, step: ReconnectStep, sres: StepResult) -> None:
    env.reconnect()


def negotiated(env: StepEnv, step: NegotiatedStep, sres: StepResult) -> None:
    check_negotiated(env.conn, step.option, sres)


# -- the table -----------------------------------------------------------------------------------
def _no_wait(step: Any) -> float:
    return 0.0


def _no_assertion(step: Any) -> bool:
    return False

def _no_requirement(step: Any) -> str | None:
    return None

def _asserts(step: Any) -> bool:
    return True

def _app_asserts(step: AppStep) -> bool:
    """Only a read checks something of the target (the bytes its application got, how it was told the
    stream ended, an option's value)."""
    return step.action in ("read", "read-eof", "read-reset", "getsockopt")


@dataclass(frozen=True, slots=True)
class StepKind(Generic[S]):
    step: type[S]
    """The case model's type for steps of this kind."""
    name: str
    """The kind as results name it (``StepResult.kind``)."""
    run: Handler[S]
    declared_wait: Callable[[S], float] = _no_wait
    """How long the step may wait, at most: the scheduler starts cases that may wait long first."""
    requirement: Callable[[S], str | None] = _no_requirement
    """The requirement the step itself names (else the case's first is the one a failure breaks)."""
    needs: Callable[[S, NeedsContext], Capability] = needs_nothing
    """What the target must be able to do for the case to run at all, given the application actions
    it does by itself (a state step needs nothing: without an agent it is judged from the wire)."""
    spare_ports: bool = False
    """The step opens connections from the run's spare source ports besides the case's own."""
    fresh_port: bool = False
    """The step moves the case to its fresh source port (:meth:`StepEnv.reconnect`)."""
    asserts: Callable[[S], bool] = _no_assertion
    """The step checks something of the target: a case passes only if one such step passed."""
    opens: Callable[[S], bool] = _no_assertion
    """The step has the target's application open actively (``app: connect``): the tester is the server."""


_KINDS = (
    StepKind(SendStep, "send", at_once(send), needs=send_needs),
    StepKind(ExpectStep, "expect", route_skips(expect), lambda s: s.within or 0.0, lambda s: s.requirement, asserts=_asserts),
    StepKind(SilenceStep, "silence", silence, lambda s: s.duration, lambda s: s.requirement, asserts=_asserts),
    StepKind(FlightStep, "flight", flight.flight, lambda s: (s.within or 0.0) + s.quiet, lambda s: s.requirement,
             asserts=_asserts),
    StepKind(AppStep, "app", control.app, requirement=lambda s: s.requirement, needs=app_needs, asserts=_app_asserts,
             opens=lambda s: s.action == "connect"),
    StepKind(StateStep, "state", control.state, requirement=lambda s: s.requirement, asserts=_asserts),
    StepKind(WaitStep, "wait", wait, lambda s: s.duration),
    StepKind(IsnSampleStep, "isnsample", isnclient.sample, lambda s: s.count * s.interval, lambda s: s.requirement,
             needs=isnclient.needs, spare_ports=True, opens=lambda s: s.by == "connect"),
    StepKind(IsnCheckStep, "isncheck", at_once(isn.check), requirement=lambda s: s.requirement, asserts=_asserts),
    StepKind(ReconnectStep, "reconnect", at_once(reconnect), fresh_port=True),
    StepKind(NegotiatedStep, "negotiated", at_once(negotiated)),
    StepKind(IcmpStep, "icmp", icmp.send_error, requirement=lambda s: s.requirement),
    StepKind(challenge.ChallengeBurstStep, "challengeburst", challenge.burst, challenge.waits, challenge.named, asserts=_asserts),
    StepKind(fill.FillWindowStep, "fillwindow", fill.fill_window, _no_wait, lambda s: s.requirement, needs=fill.needs),
    StepKind(slowread.SlowReadStep, "slowread", slowread.slow_read, slowread.waits, lambda s: s.requirement, fill.needs,
             asserts=_asserts),
    StepKind(HalfOpenStep, "halfopen", halfopen.half_open, lambda s: 2 * (s.count + 1) * (s.within or 1.0),
             lambda s: s.requirement, needs=lambda s, c: Capability.READS, spare_ports=True, asserts=_asserts),
    StepKind(reopen.ReopenStep, "reopen", reopen.reopen, lambda s: s.within or 1.0, lambda s: s.requirement, asserts=_asserts),
)
STEPS: dict[type[Step], StepKind[Any]] = {kind.step: kind for kind in _KINDS}
"""Every step kind, by the case model's step type."""


def kind_of(step: Step) -> StepKind[Any]:
    """The row of ``step``'s kind."""
    return STEPS[type(step)]
