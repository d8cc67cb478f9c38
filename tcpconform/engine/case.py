"""Running one test case: its steps, in order, on its own connection.

A case runs as a generator so that many cases can share one link: whenever it must wait it yields
``(kind, deadline)`` — ``"recv"`` to be resumed with the next segment of its connection (or
``None`` at the deadline), ``"sleep"`` to be resumed with ``None`` at the deadline while its
segments queue up.  The scheduler (:mod:`tcpconform.engine.scheduler`) owns the link and the
clock; this module never reads time except through the link.

A case stops at its first failing step (later steps would only report the consequences), but
that step reports every mismatching field, every invariant broken, and every segment it saw.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass, replace

from tcpconform.cases.model import (
    AnyStep,
    AppStep,
    ExpectStep,
    IsnCheckStep,
    IsnSampleStep,
    OptionsSpec,
    Requirement,
    SegmentSpec,
    SendStep,
    SilenceStep,
    StateStep,
    TestCase,
    WaitStep,
)
from tcpconform.cases.profiles import Profile
from tcpconform.engine import isn
from tcpconform.engine.connection import CaseError, Conn
from tcpconform.engine.matching import INVARIANT_REQUIREMENTS, check_invariants, match, tolerated
from tcpconform.links.base import Link, Received
from tcpconform.results import CaseResult, Mismatch, RequirementRef, SegmentRecord, StepResult, TargetEvent
from tcpconform.targets.base import AppFailed, Target, TargetError
from tcpconform.tcp import seqnum
from tcpconform.tcp.payload import TARGET_SALT, TESTER_SALT, stream_bytes
from tcpconform.tcp.segment import Flags, FourTuple, Segment, default_mss, is_ipv6

Request = tuple[str, float]
CaseGen = Generator[Request, Received | None, None]

POLL = 0.005
"""How often state and application reads are polled while waiting for them, in seconds."""


class StepFailed(Exception):
    def __init__(self, message: str, mismatches: list[Mismatch] | None = None, requirement: str | None = None) -> None:
        super().__init__(message)
        self.mismatches = mismatches or []
        self.requirement = requirement


@dataclass(frozen=True, slots=True)
class CaseSettings:
    profile: Profile
    tester_isn: int | None = None
    """Wire ISN of the tester; ``None`` uses the number the case writes."""
    target_salt: int | None = TARGET_SALT
    """Which :func:`stream_bytes` stream the target's data is (its own application's: ``TARGET_SALT``;
    an echo service's: the tester's, ``TESTER_SALT``), so it is checked byte by byte; ``None``: unknown."""
    cleanup: bool = True
    """Reset a connection left open at the end of a case, as packetdrill does, so no state leaks."""


def required_capabilities(case: TestCase, implied: frozenset[str] = frozenset()) -> frozenset[str]:
    """What the target must be able to do for the case to run at all.

    Application actions a service performs by itself (``implied``: an echo service listens and
    reads on its own) need no agent.  State steps need none either: without an agent they are
    skipped one by one and the rest of the case still runs.
    """
    needs = set(case.needs)
    for step in case.steps:
        if isinstance(step, AppStep) and step.action not in implied:
            needs.add("app")
    return frozenset(needs)


class StepSkipped(Exception):
    """The step cannot be checked on this target; the case goes on without it."""


class CaseRun:
    """One case on one connection; :meth:`body` is the generator the scheduler drives."""

    def __init__(self, case: TestCase, key: FourTuple, link: Link, target: Target, settings: CaseSettings,
                 spare_ports: range = range(0)) -> None:
        self.case = case
        self.key = key
        self.spare_ports = spare_ports if any(isinstance(s, IsnSampleStep) for s in case.steps) else range(0)
        """Source ports this case may use besides its own (ISN samples); the scheduler routes them here."""
        self.isn_samples: list[isn.IsnSample] = []
        """The ISN sample an ``isn_sample`` step took, for the checks after it."""
        self.link = link
        self.target = target
        self.settings = settings
        written_isn = case.numbering.tester if not case.numbering.absolute else 0
        tester_isn = settings.tester_isn if settings.tester_isn is not None else written_isn
        self.conn = Conn(key, case.numbering, tester_isn & seqnum.MASK, settings.profile.values,
                         mss_offered=case.tester_mss or default_mss(key.src))
        self.inbox: deque[Received] = deque()
        self.t0 = 0.0
        self.t_ref = 0.0
        self.result = CaseResult(
            id=case.id, title=case.title, file=case.loc.file, line=case.loc.line, area=case.area,
            level=case.level.value, requirements=[_requirement_ref(r) for r in case.requirements],
            matrix_cell=case.matrix_cell,
        )
        self.result.steps = [
            StepResult(i, str(s.loc), _kind(s), s.text) for i, s in enumerate(case.steps)
        ]

    @property
    def keys(self) -> list[FourTuple]:
        """Every connection this case owns: its own, then one per spare port."""
        k = self.key
        return [k, *(FourTuple(k.src, port, k.dst, k.dport) for port in self.spare_ports)]

    # -- plumbing --------------------------------------------------------------------------------
    def _rel(self, t: float) -> float:
        return round(t - self.t0, 6)

    def _record(self, direction: str, seg: Segment, at: float, step: int | None, note: str = "") -> int:
        conn = self.conn
        summary = conn.summary_out(seg) if direction == "out" else conn.summary_in(seg)
        fields = {
            "flags": seg.flags.scapy(), "seq": seg.seq, "ack": seg.ack, "window": seg.window,
            "len": len(seg.payload), "urgptr": seg.urgptr, "options": [list(o) for o in seg.options],
        }
        self.result.segments.append(SegmentRecord(
            direction, self._rel(at), summary, seg.summary(), fields, step, note,  # type: ignore[arg-type]
            frame=seg.meta.get("frame"), segment=seg,
        ))
        return len(self.result.segments) - 1

    def add_event(self, event: TargetEvent) -> None:
        event.at = self._rel(event.at)
        self.result.target_events.append(event)

    def _next(self, deadline: float) -> Generator[Request, Received | None, Received | None]:
        if self.inbox:
            return self.inbox.popleft()
        got = yield ("recv", deadline)
        return got

    def _sleep(self, deadline: float) -> Generator[Request, Received | None, None]:
        yield ("sleep", deadline)

    # -- the case --------------------------------------------------------------------------------
    def body(self) -> CaseGen:
        case, res = self.case, self.result
        self.t0 = self.t_ref = self.link.now()
        res.started = self.t0
        res.started_wall = time.time()  # metadata only: places an in-process case's pcap in real time
        res.connection = {"tester": f"{self.key.src}:{self.key.sport}", "target": f"{self.key.dst}:{self.key.dport}",
                          "tester_isn": self.conn.tester_isn}
        implied: frozenset[str] = getattr(self.target, "implied", frozenset())
        missing = required_capabilities(case, implied) - self.target.capabilities
        family = "ipv6" if is_ipv6(self.key.src) else "ipv4"
        wanted = case.family or family
        if missing or wanted != family:
            res.verdict = "skip"
            if missing:
                res.reason = f"the target cannot {' or '.join(sorted(_CAPS.get(m, m) for m in missing))}"
            else:
                res.reason = (f"the case is for {_FAMILY[wanted]} only (family: {wanted}); "
                              f"this run is over {_FAMILY[family]}")
            for s in res.steps:
                s.verdict = "skip"
            return
        res.verdict = "pass"
        for index, step in enumerate(case.steps):
            sres = res.steps[index]
            sres.started = self._rel(self.link.now())
            try:
                yield from self._run_step(index, step, sres)
                sres.verdict = "pass"
            except StepFailed as failure:
                self._fail(sres, step, failure)
                break
            except AppFailed as err:
                self._fail(sres, step, StepFailed(str(err)))
                break
            except StepSkipped as skipped:
                sres.verdict = "skip"
                sres.message = str(skipped)
            except (CaseError, TargetError) as err:
                sres.verdict = "error"
                sres.message = str(err)
                res.verdict = "error"
                res.reason = f"{step.loc}: {err}"
                break
            except Exception as err:  # a bug of ours: one case errors, the run goes on and says so
                sres.verdict = "error"
                sres.message = f"internal error: {type(err).__name__}: {err}"
                res.verdict = "error"
                res.reason = f"{step.loc}: {sres.message} (please report it)"
                break
            finally:
                sres.ended = self._rel(self.link.now())
        self._finish()

    def _fail(self, sres: StepResult, step: AnyStep, failure: StepFailed) -> None:
        res = self.result
        sres.verdict = "fail"
        sres.message = str(failure)
        sres.mismatches = failure.mismatches
        rid = failure.requirement or getattr(step, "requirement", None)
        req = INVARIANT_REQUIREMENTS.get(rid or "") or self.case.requirement(rid)
        if req is not None:
            sres.requirement = _requirement_ref(req)
        res.verdict = "fail"
        res.failed_level = req.level.value if req is not None else self.case.level.value
        res.reason = f"{step.loc}: {failure}"

    def _finish(self) -> None:
        for rec in self.inbox:  # what arrived after the last step, for the ladder
            self._record("in", rec.segment, rec.at, None, "after the last step")
        self.inbox.clear()
        conn = self.conn
        self.result.connection["target_isn"] = conn.target_isn
        if self.settings.cleanup and conn.snd_nxt != conn.tester_isn:
            state = None
            if "state" in self.target.capabilities:
                try:
                    state = self.target.state(self.key)
                except TargetError:
                    state = None
            if state not in ("CLOSED", "TIME_WAIT", "LISTEN"):
                rst = Segment(self.key.src, self.key.dst, self.key.sport, self.key.dport,
                              seq=conn.snd_nxt, flags=Flags.RST)
                at = self.link.send(rst)
                self._record("out", rst, at, None, "cleanup: reset the connection so no state leaks")
        try:
            self.target.forget(self.key)
        except TargetError as err:  # the verdict stands; the next case will meet the problem itself
            self.result.target_events.append(TargetEvent(self._rel(self.link.now()), "error", f"forget failed: {err}"))
        self.result.duration = round(self.link.now() - self.t0, 6)

    def _run_step(self, index: int, step: AnyStep, sres: StepResult) -> Generator[Request, Received | None, None]:
        if isinstance(step, SendStep):
            self._send(index, step)
        elif isinstance(step, ExpectStep):
            yield from self._expect(index, step, sres)
        elif isinstance(step, SilenceStep):
            yield from self._silence(index, step, sres)
        elif isinstance(step, AppStep):
            yield from self._app(step, sres)
        elif isinstance(step, StateStep):
            yield from self._state(step, sres)
        elif isinstance(step, WaitStep):
            yield from self._sleep(self.link.now() + step.duration)
            self.t_ref = self.link.now()
        elif isinstance(step, IsnSampleStep):
            yield from isn.sample(self, step, sres)
            self.t_ref = self.link.now()
        elif isinstance(step, IsnCheckStep):
            isn.check(self, step, sres)

    # -- send ------------------------------------------------------------------------------------
    def build(self, spec: SegmentSpec) -> Segment:
        conn = self.conn
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
        window = conn.resolve_send(spec.window, "window") if spec.window is not None else self.case.tester_window
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
            options = tuple(self._option_value(o.kind, o.value) for o in spec.options.items)
        urgptr = conn.resolve_send(spec.urgptr, "urgptr") if spec.urgptr is not None else 0
        meta = {"bad_checksum": True} if spec.chksum == "bad" else {}
        return Segment(
            self.key.src, self.key.dst, self.key.sport, self.key.dport, seq=seq, ack=ack, flags=flags,
            window=window, urgptr=urgptr, options=options, payload=payload,
            reserved=spec.reserved or 0, chksum=spec.chksum if isinstance(spec.chksum, int) else None,
            dataofs=spec.dataofs, meta=meta,
        )

    def _option_value(self, kind: str, value: object) -> tuple[str, object]:
        if value is None or isinstance(value, bytes):
            return (kind, value)
        if isinstance(value, tuple):
            return (kind, tuple(self.conn.resolve_send(v, kind) for v in value))
        return (kind, self.conn.resolve_send(value, kind))  # type: ignore[arg-type]

    def _send(self, index: int, step: SendStep) -> None:
        seg = self.build(step.segment)
        if seg.flags & Flags.SYN:
            mss = seg.option("MSS")
            self.conn.mss_offered = mss if isinstance(mss, int) else (self.case.tester_mss or default_mss(self.key.src))
        at = self.link.send(seg)
        self.conn.note_sent(seg)
        self._record("out", seg, at, index)
        self.t_ref = at

    # -- expect ----------------------------------------------------------------------------------
    def _invariant_failure(self, seg: Segment, idx: int, also: list[Mismatch] | None = None) -> StepFailed | None:
        broken = check_invariants(seg, self.conn, self.case.invariants)
        if not broken:
            return None
        names = ", ".join(name for name, _ in broken)
        mismatches = [Mismatch(f"{m.field} ({name})", m.expected, m.actual) for name, m in broken]
        return StepFailed(f"segment {self.result.segments[idx].summary} breaks {names}",
                          mismatches + (also or []), requirement=broken[0][0])

    def _expect(self, index: int, step: ExpectStep, sres: StepResult) -> Generator[Request, Received | None, None]:
        conn, spec = self.conn, step.segment
        within = step.within if step.within is not None else self.settings.profile.within
        deadline = self.t_ref + within
        sres.expected = spec.text
        tolerated_seen: list[tuple[int, str, list[Mismatch]]] = []
        while True:
            got = yield from self._next(deadline)
            if got is None or got.at > deadline:
                if got is not None:
                    self.inbox.appendleft(got)
                raise self._timeout(step, within, tolerated_seen)
            seg = got.segment
            result = match(spec, seg, conn, step.isn)
            if result.anchor_isn is not None:
                conn.target_isn = result.anchor_isn  # the target's first SYN defines its numbering
            if result.ok:
                result.mismatches.extend(self._data_mismatches(seg, result.anchor_isn))
            idx = self._record("in", seg, got.at, index)
            sres.observed.append(idx)
            broken = self._invariant_failure(seg, idx, result.mismatches)
            if broken is not None:
                raise broken
            if result.ok:
                conn.captured.update(result.captures)
                conn.note_received(seg)
                if step.measure:
                    self.result.figures[f"{step.measure}_ms"] = round((got.at - self.t_ref) * 1000, 1)
                self.t_ref = got.at
                self.result.segments[idx].note = "matched"
                return
            why = tolerated(seg, step.tolerate, spec, conn) or self._service_data(seg)
            if why == _SERVICE_DATA and _piggybacks(spec, seg, conn, step):
                conn.captured.update(match(spec, seg.with_(payload=b"", flags=seg.flags & ~Flags.PSH), conn).captures)
                conn.note_received(seg)
                self.t_ref = got.at
                self.result.segments[idx].note = "matched: the ACK rides on the service's data"
                return
            conn.note_received(seg)
            if why is not None:
                self.result.segments[idx].note = f"tolerated: {why}"
                tolerated_seen.append((idx, why, result.mismatches))
                continue
            raise StepFailed(f"unexpected segment: {self.result.segments[idx].summary}", result.mismatches)

    def _service_data(self, seg: Segment) -> str | None:
        """Data a service sent on its own (an echo answering), checked byte by byte, may come at any time."""
        if "read" not in getattr(self.target, "implied", ()) or not seg.payload:
            return None
        if seg.flags & (Flags.SYN | Flags.RST | Flags.FIN) or self._data_mismatches(seg, None):
            return None
        return _SERVICE_DATA

    def _data_mismatches(self, seg: Segment, anchor: int | None) -> list[Mismatch]:
        """Data from the target must be the bytes its application wrote, at the right offset."""
        salt = self.settings.target_salt
        if not seg.payload or salt is None:
            return []
        isn = anchor if anchor is not None else self.conn.target_isn
        if isn is None:
            return []
        offset = seqnum.diff(seg.seq, seqnum.add(isn, 1))
        expected = stream_bytes(offset, len(seg.payload), salt)
        if seg.payload == expected:
            return []
        return [Mismatch("payload", f"application bytes {offset}..{offset + len(seg.payload)}",
                         "different bytes (" + _first_diff(expected, seg.payload) + ")")]

    def _timeout(self, step: ExpectStep, within: float, seen: list[tuple[int, str, list[Mismatch]]]) -> StepFailed:
        text = f"no segment matching '{step.segment.text}' within {_ms(within)}"
        if not seen:
            return StepFailed(text + "; nothing arrived")
        last_idx, why, mismatches = seen[-1]
        last = self.result.segments[last_idx]
        text += f"; {len(seen)} tolerated segment(s) seen, the last: {last.summary} ({why})"
        # How the closest candidate differs, so "never reached 1025" reads as such.
        return StepFailed(text, mismatches)

    def _silence(self, index: int, step: SilenceStep, sres: StepResult) -> Generator[Request, Received | None, None]:
        deadline = self.link.now() + step.duration
        sres.expected = f"silence for {_ms(step.duration)}"
        while True:
            got = yield from self._next(deadline)
            if got is None or got.at > deadline:
                if got is not None:
                    self.inbox.appendleft(got)
                self.t_ref = self.link.now()
                return
            seg = got.segment
            idx = self._record("in", seg, got.at, index)
            sres.observed.append(idx)
            broken = self._invariant_failure(seg, idx)
            if broken is not None:
                raise broken
            why = tolerated(seg, step.tolerate, None, self.conn) or self._service_data(seg)
            self.conn.note_received(seg)
            if why is None:
                after = _ms(got.at - (deadline - step.duration))
                raise StepFailed(f"expected silence for {_ms(step.duration)}, got {self.result.segments[idx].summary} "
                                 f"after {after}", [Mismatch("segment", "none", self.result.segments[idx].summary)])
            self.result.segments[idx].note = f"tolerated: {why}"

    # -- target application and state ------------------------------------------------------------
    def _app(self, step: AppStep, sres: StepResult) -> Generator[Request, Received | None, None]:
        conn, target = self.conn, self.target
        sres.expected = f"application {step.action}" + (f" {step.count}" if step.count is not None else "")
        if "app" not in target.capabilities:  # a service that does this by itself (checked at start)
            sres.message = f"implied: {target.name} does this by itself"
            self.t_ref = self.link.now()
            return
        if step.action == "read":
            want = step.count or 0
            got = b""
            deadline = self.link.now() + self.settings.profile.within
            while True:
                got += target.app(self.key, "read", count=want - len(got))
                if len(got) >= want or self.link.now() >= deadline:
                    break
                yield from self._sleep(min(deadline, self.link.now() + POLL))
            expected = stream_bytes(conn.app_read, want, TESTER_SALT)
            conn.app_read += len(got)
            if got != expected:
                if len(got) < want:
                    detail = f"{len(got)} bytes" + ("" if got == expected[: len(got)] else ", and not the bytes sent")
                    raise StepFailed(f"the application read {len(got)} of {want} bytes",
                                     [Mismatch("app read", f"{want} bytes, in order", detail)])
                raise StepFailed("the application read other bytes than were sent, or out of order",
                                 [Mismatch("app read", f"{want} bytes, in order", _first_diff(expected, got))])
        elif step.action == "write":
            data = stream_bytes(conn.app_written, step.count or 0, TARGET_SALT)
            target.app(self.key, "write", data=data)
            conn.app_written += len(data)
        else:
            target.app(self.key, step.action)
        self.t_ref = self.link.now()

    def _state(self, step: StateStep, sres: StepResult) -> Generator[Request, Received | None, None]:
        sres.expected = f"target state {step.state}"
        if "state" not in self.target.capabilities:
            raise StepSkipped(f"not checked: {self.target.name} cannot report its TCP state (no agent)")
        deadline = self.link.now() + self.settings.profile.within
        seen: list[str] = []
        while True:
            state = self.target.state(self.key)
            if state is not None and (not seen or seen[-1] != state):
                seen.append(state)
            if state == step.state:
                break
            if self.link.now() >= deadline:
                path = " -> ".join(seen) or "unknown"
                raise StepFailed(f"target state is {state}, expected {step.state} (seen: {path})",
                                 [Mismatch("state", step.state, str(state))])
            yield from self._sleep(min(deadline, self.link.now() + POLL))
        self.t_ref = self.link.now()


_SERVICE_DATA = "data the service sent by itself"


def _piggybacks(spec: SegmentSpec, seg: Segment, conn: Conn, step: ExpectStep) -> bool:
    """A pure ACK is expected and this data segment carries exactly that acknowledgment."""
    if spec.flags != Flags.ACK or spec.length not in (None, 0):
        return False
    bare = seg.with_(payload=b"", flags=seg.flags & ~Flags.PSH)
    return match(replace(spec, seq=None), bare, conn, step.isn).ok


_CAPS = {"app": "play its application (no agent)", "state": "report its TCP state (no agent)"}
_FAMILY = {"ipv4": "IPv4", "ipv6": "IPv6"}


def _kind(step: AnyStep) -> str:
    return type(step).__name__.removesuffix("Step").lower()


def _requirement_ref(req: Requirement) -> RequirementRef:
    return RequirementRef(req.id, req.ref, req.level.value, req.rid, req.text)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _first_diff(expected: bytes, got: bytes) -> str:
    for i, (a, b) in enumerate(zip(expected, got, strict=False)):
        if a != b:
            return f"byte {i}: expected 0x{a:02x}, got 0x{b:02x}"
    return f"{len(got)} bytes where {len(expected)} were expected"
