"""Running one test case: its steps, in order, on its own connection.

A case runs as a generator so that many cases can share one link: whenever it must wait it yields
a :class:`~tcpconform.engine.waits.Recv` (resume me with the next segment of my connection, or
``None`` at the deadline) or a :class:`~tcpconform.engine.waits.Sleep` (resume me at the deadline
while my segments queue up).  The scheduler (:mod:`tcpconform.engine.scheduler`) owns the link and
the clock; this module never reads time except through the link.

:class:`CaseRun` is what every step kind runs in (it implements
:class:`~tcpconform.engine.env.StepEnv`); what each kind does is its row in
:mod:`tcpconform.engine.steps`, and how a step that does not pass ends the case is
:mod:`tcpconform.engine.outcome`'s to say.  A case stops at its first failing step (later steps would
only report the consequences), but that step reports every mismatching field, every invariant
broken, and every segment it saw.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Literal, TypeVar

from tcpconform.cases.long import expected_duration
from tcpconform.cases.model import Requirement, Step, TestCase
from tcpconform.engine import services
from tcpconform.engine.addressing import extra_keys, followed, unavailable
from tcpconform.engine.cleanup import (
    CLEANUP_WINDOW,
    CLEANUP_WITH_ACK,
    LATE_LIMIT,
    RST_NEVER_ANSWERED,
    cleanup_rst,
    cleanup_seqs,
)
from tcpconform.engine.connection import TesterConnection
from tcpconform.engine.env import CaseSettings
from tcpconform.engine.icmp import icmp_fields
from tcpconform.engine.ipsend import spoofed_keys
from tcpconform.engine.matching import INVARIANT_REQUIREMENTS
from tcpconform.engine.needs import NeedsContext
from tcpconform.engine.outcome import CaseError, ProbeUnanswered, StepFailed, as_failure, judge
from tcpconform.engine.steps import kind_of
from tcpconform.engine.waits import Recv, Sleep, Waiting
from tcpconform.links.base import Link, Received, wire_segments
from tcpconform.results import CaseResult, RequirementRef, SegmentRecord, StepResult, TargetEvent
from tcpconform.targets.base import Capability, Target, TargetError
from tcpconform.targets.device import Unserved
from tcpconform.tcp import seqnum
from tcpconform.tcp.icmp import IcmpError
from tcpconform.tcp.segment import Flags, FourTuple, Segment, default_mss, is_ipv6

CaseGen = Waiting[None]
"""A case as the scheduler drives it."""
_T = TypeVar("_T")


def required_capabilities(case: TestCase, implied: frozenset[str] = frozenset()) -> Capability:
    """What the target must be able to do for the case to run at all.

    What the case file says it needs, and what its steps do: application actions a service performs
    by itself (``implied``: an echo service listens and reads on its own) need no agent, and state
    steps need none either (without an agent they are judged from the wire, :mod:`tcpconform.engine.probe`).
    An implied ``write`` is an echo's, played by the tester sending it the bytes: after the tester's
    FIN it cannot be, so it needs an agent there.  A case whose tester sends data needs an
    application that takes it (``reads``: one that closed without reading answers it with a RST).
    """
    return _read_needs(case, implied)[0]


def _read_needs(case: TestCase, implied: frozenset[str]) -> tuple[Capability, NeedsContext]:
    needs = Capability.named(case.needs)
    context = NeedsContext(implied)
    for step in case.steps:
        needs |= kind_of(step).needs(step, context)
    return needs, context


def missing_capabilities(case: TestCase, target: Target) -> Capability:
    """What ``case`` needs that ``target`` cannot do (nothing: the case can run on it)."""
    return required_capabilities(case, target.implied) & ~target.capabilities.granted()


def wants_fresh_port(case: TestCase) -> bool:
    """The case moves to a connection of its own partway (a ``reconnect`` step)."""
    return any(kind_of(s).fresh_port for s in case.steps)


def opens_actively(case: TestCase) -> bool:
    """The target's application connects to the tester (an ``app: connect`` step): the tester plays
    the server, on a port of its own, and the target's local port is the engine's to choose."""
    return any(kind_of(s).opens(s) for s in case.steps)


class CaseRun:
    """One case on one connection; :meth:`body` is the generator the scheduler drives."""

    def __init__(self, case: TestCase, key: FourTuple, link: Link, target: Target, settings: CaseSettings,
                 spare_ports: range = range(0), fresh_port: int | None = None) -> None:
        self.case = case
        self.own_key = key
        """The case's first connection, for its whole life: what the scheduler knows it by."""
        self.key = key
        """The connection the case speaks on: ``own_key``, or after a ``reconnect`` step its fresh one."""
        self.fresh_key = (FourTuple(key.src, fresh_port, key.dst, key.dport)
                          if wants_fresh_port(case) and fresh_port is not None else None)
        """The 4-tuple a ``reconnect`` step moves to (a source port no other case uses)."""
        self.spare_ports = spare_ports if any(kind_of(s).spare_ports for s in case.steps) else range(0)
        """Source ports this case may use besides its own (ISN samples); the scheduler routes them here."""
        self.link = link
        self.target = target
        self.settings = settings
        written_isn = case.numbering.tester if not case.numbering.absolute else 0
        tester_isn = settings.tester_isn if settings.tester_isn is not None else written_isn
        self.conn = TesterConnection(key, case.numbering, tester_isn & seqnum.MASK, settings.profile.values,
                                     mss_offered=case.tester_mss or default_mss(key.src))
        needs, context = _read_needs(case, target.implied)
        if services.holds_open(target, needs):  # from the SYN on, unless the echo is to write first
            self.conn.hold, self.conn.hold_at_fin = not context.writes_before_fin, context.writes_before_fin
        self.inbox: deque[Received] = deque()
        """Segments of the case's connections the scheduler handed over, not yet taken by a step."""
        self.from_target = 0
        """Segments of the case's connections the scheduler handed over, in all."""
        self.t0 = 0.0
        self.t_ref = 0.0
        self.t_sent = 0.0
        self._kept: dict[type, object] = {}
        self._unanswered: set[int] = set()
        """Steps (by index) skipped because the target gave no sign either way (:class:`ProbeUnanswered`)."""
        self._left: list[tuple[FourTuple, list[int], int | None]] = []
        """Connections a ``reconnect`` left, with where their cleanup RSTs go."""
        self.late = 0.0
        """The most the tester was late handing the case anything before it failed (seconds)."""
        self.decided: float | None = None
        """When the case's failure (or error) was decided, on the link's clock."""
        self.late_skip = False
        """Whether the case failed after the tester was late, so it was skipped (:meth:`_late_unjudged`)."""
        self.result = CaseResult(
            id=case.id, title=case.title, file=case.loc.file, line=case.loc.line, area=case.area,
            level=case.level.value, requirements=[_requirement_ref(r) for r in case.requirements],
            matrix_cell=case.matrix_cell, long=expected_duration(case) if case.long else None,
        )
        self.result.steps = [
            StepResult(i, str(s.loc), kind_of(s).name, s.text) for i, s in enumerate(case.steps)
        ]

    def fresh(self) -> CaseRun:
        """The same case on the same connection, not started: to run again on a restarted target."""
        fresh_port = self.fresh_key.sport if self.fresh_key is not None else None
        return CaseRun(self.case, self.own_key, self.link, self.target, self.settings, self.spare_ports, fresh_port)

    def moved(self, port: int, fresh_port: int | None) -> CaseRun:
        """The same case, not started, from source port ``port`` (and ``fresh_port`` for a
        ``reconnect``): to run again on a target that may still hold the first run's connection."""
        k = self.own_key
        key = FourTuple(k.src, port, k.dst, port if opens_actively(self.case) else k.dport)  # as :func:`execute` binds
        return CaseRun(self.case, key, self.link, self.target, self.settings, self.spare_ports, fresh_port)

    @property
    def keys(self) -> list[FourTuple]:
        """Every connection this case owns: its own, its fresh one, one per spare port, then those of
        the segments it sends with other addresses (:func:`spoofed_keys`)."""
        k = self.own_key
        fresh = [self.fresh_key] if self.fresh_key is not None else []
        spare = [FourTuple(k.src, port, k.dst, k.dport) for port in self.spare_ports]
        return [k, *fresh, *spare, *spoofed_keys(self.case, k), *extra_keys(self.case, k, self.target)]

    def arrived(self, got: Received) -> None:
        """A segment of the case's connections, from the scheduler, as the wire would carry it (a
        segmentation-offload aggregate cut at the tester's MSS: :func:`wire_segments`); one whose
        checksum the link could not verify is counted (``unverified_checksums``), since no
        invariant can judge it."""
        lag = self.link.now() - got.at  # handed over late: the host's softirq, or the tester busy
        if self.decided is not None and got.at < self.decided:  # carried before the failure, missing from it
            self.late = max(self.late, lag)
        else:
            self.note_lateness(lag)
        for piece in wire_segments(got, self.conn.mss_offered):
            moved = followed(self.case, self.key, piece.segment, self.target, self.conn.target_isn is not None)
            if moved is not None:  # an unbound open's SYN came from the second address: the connection is there
                self.key = self.conn.key = moved
                self.result.connection["target"] = f"{moved.dst}:{moved.dport}"
            if piece.segment.dport == self.key.sport:
                self.conn.watch_edge(piece.segment)  # in arrival order: the no-window-shrink invariant
            self.inbox.append(piece)
            self.from_target += 1
            if piece.checksum == "unverifiable":
                self.result.unverified_checksums += 1

    # -- what a step may use (StepEnv) -----------------------------------------------------------
    def _rel(self, t: float) -> float:
        return round(t - self.t0, 6)

    def record(self, direction: Literal["out", "in"], seg: Segment | IcmpError, at: float, step: int | None,
               note: str = "", frame: bytes | None = None) -> int:
        conn = self.conn
        if isinstance(seg, IcmpError):  # an error about the target's segment, numbered as the target's
            self.result.segments.append(SegmentRecord(
                direction, self._rel(at), seg.summary(conn.summary_in(seg.quoted)), seg.summary(), icmp_fields(seg),
                step, note, frame=frame, segment=seg))
            return len(self.result.segments) - 1
        summary = conn.summary_out(seg) if direction == "out" else conn.summary_in(seg)
        fields = {
            "flags": seg.flags.scapy(), "seq": seg.seq, "ack": seg.ack, "window": seg.window,
            "len": len(seg.payload), "urgptr": seg.urgptr, "options": [list(o) for o in seg.options],
        }
        self.result.segments.append(SegmentRecord(
            direction, self._rel(at), summary, seg.summary(), fields, step, note, frame=frame, segment=seg,
        ))
        return len(self.result.segments) - 1

    def add_event(self, event: TargetEvent) -> None:
        event.at = self._rel(event.at)
        self.result.target_events.append(event)

    def next(self, deadline: float) -> Waiting[Received | None]:
        inbox = self.inbox
        if inbox:
            return inbox.popleft() if inbox[0].at <= deadline else None  # a later one: the next step's
        got = yield Recv(deadline)
        return got

    def take(self, wanted: Callable[[Segment], bool], deadline: float) -> Waiting[Received | None]:
        inbox = self.inbox
        while True:
            for i, rec in enumerate(inbox):
                if wanted(rec.segment):
                    del inbox[i]
                    return rec
            inbox.clear()  # what else arrived is not the step's business
            got = yield Recv(deadline)
            if got is None or got.at > deadline:
                return None
            if wanted(got.segment):
                return got

    def unread(self, seen: list[Received]) -> None:
        self.inbox.extendleft(reversed(seen))

    def sleep(self, deadline: float) -> Waiting[None]:
        yield Sleep(deadline)

    def reconnect(self) -> None:
        if self.fresh_key is None:
            raise CaseError("reconnect: this run gave the case no fresh source port")
        if self.conn.snd_nxt != self.conn.tester_isn:
            self._left.append((self.key, cleanup_seqs(self.conn), self.conn.rcv_nxt))
        self.key = self.fresh_key
        self.conn.key = self.fresh_key
        self.result.connection["tester_fresh"] = f"{self.fresh_key.src}:{self.fresh_key.sport}"

    def keep(self, value: object) -> None:
        self._kept[type(value)] = value

    def kept(self, of: type[_T]) -> _T | None:
        value = self._kept.get(of)
        return value if isinstance(value, of) else None

    # -- the case --------------------------------------------------------------------------------
    def body(self) -> CaseGen:
        case, res = self.case, self.result
        self.t0 = self.t_ref = self.t_sent = self.link.now()
        res.started = self.t0
        res.started_wall = time.time()  # metadata only: places an in-process case's pcap in real time
        res.connection = {"tester": f"{self.key.src}:{self.key.sport}", "target": f"{self.key.dst}:{self.key.dport}",
                          "tester_isn": self.conn.tester_isn}
        if self._skipped():
            return
        res.verdict = "pass"
        for index, step in enumerate(case.steps):
            sres = res.steps[index]
            sres.started = self._rel(self.link.now())
            try:
                yield from kind_of(step).run(self, step, sres)
                sres.verdict = "pass"
            except Exception as err:  # outcome.judge says what it makes of the step
                if not self._ends(step, sres, err):
                    self.decided = self.link.now()
                    break
            finally:
                sres.ended = self._rel(self.link.now())
        self._nothing_observed()
        yield from self._finish()

    def _nothing_observed(self) -> None:
        """A case passes only if something it asserts of the target was observed, and its last check
        (the outcome it is about) was not left unanswered: else it is skipped, with the reason."""
        res = self.result
        if res.verdict != "pass":
            return
        checks = [r for s, r in zip(self.case.steps, res.steps, strict=True) if kind_of(s).asserts(s)]
        if checks and checks[-1].index in self._unanswered:
            last = self.case.steps[checks[-1].index]
            res.verdict = "skip"
            res.reason = (f"{last.loc}: the case's last check could not be observed, so it does not pass on what "
                          f"came before it: {checks[-1].message}")
            return
        if any(r.verdict == "pass" for r in checks):
            return
        res.verdict = "skip"
        why = "; ".join(dict.fromkeys(r.message for r in checks if r.verdict == "skip"))
        res.reason = f"nothing the case asserts could be observed: {why or 'it checks nothing of the target'}"

    def _skipped(self) -> bool:
        """Skip the whole case when the target cannot do what it needs, or the family is not its own."""
        res = self.result
        missing = missing_capabilities(self.case, self.target)
        family = "ipv6" if is_ipv6(self.key.dst) else "ipv4"
        wanted = self.case.family or family
        unserved = isinstance(self.target, Unserved)
        no_address = unavailable(self.case, self.target)
        if not missing and wanted == family and not unserved and no_address is None:
            return False
        res.verdict = "skip"
        if isinstance(self.target, Unserved):
            res.reason = self.target.reason
        elif no_address is not None and not missing and wanted == family:
            res.reason = no_address
        elif missing:
            res.reason = f"the target cannot {' or '.join(sorted(_CAPS[m] for m in missing))}"
        else:
            res.reason = (f"the case is for {_FAMILY[wanted]} only (family: {wanted}); "
                          f"this run is over {_FAMILY[family]}")
        for s in res.steps:
            s.verdict = "skip"
        return True

    def _ends(self, step: Step, sres: StepResult, err: Exception) -> bool:
        """Record how ``err`` ended the step; whether the case goes on."""
        res = self.result
        verdict = judge(err)
        if verdict == "fail":
            self._fail(sres, step, as_failure(err))
            return False
        if verdict == "skip":
            sres.verdict = "skip"
            sres.message = str(err)
            if isinstance(err, ProbeUnanswered):
                self._unanswered.add(sres.index)
            return True
        if verdict == "unobservable":
            sres.verdict = res.verdict = "skip"
            sres.message = str(err)
            res.reason = f"{step.loc}: {err}"
            return False
        sres.verdict = "error"
        res.verdict = "error"
        if verdict == "error":
            sres.message = str(err)
            res.reason = f"{step.loc}: {err}"
        else:  # a bug of ours: one case errors, the run goes on and says so
            sres.message = f"internal error: {type(err).__name__}: {err}"
            res.reason = f"{step.loc}: {sres.message} (please report it)"
        return False

    def _fail(self, sres: StepResult, step: Step, failure: StepFailed) -> None:
        res = self.result
        sres.verdict = "fail"
        sres.message = str(failure)
        sres.mismatches = failure.mismatches
        rid = failure.requirement or kind_of(step).requirement(step)
        req = INVARIANT_REQUIREMENTS.get(rid or "") or self.case.requirement(rid)
        if req is not None:
            sres.requirement = _requirement_ref(req)
        res.verdict = "fail"
        res.failed_level = req.level.value if req is not None else self.case.level.value
        res.reason = f"{step.loc}: {failure}"

    def _finish(self) -> CaseGen:
        for rec in self.inbox:  # what arrived after the last step, for the ladder
            self.record("in", rec.segment, rec.at, None, "after the last step", rec.frame)
        self.inbox.clear()
        conn = self.conn
        self.result.connection["target_isn"] = conn.target_isn
        for key, seqs, ack in self._left if self.settings.cleanup else ():
            for seq in seqs:  # a connection the case left for a fresh one is reset too, unjudged
                rst = cleanup_rst(key, seq)
                sent = self.link.send(rst)
                self.record("out", rst, sent.at, None, "cleanup: reset the connection the case left", sent.frame)
            self._cleanup_with_ack(key, seqs[0], ack)
        if self.settings.cleanup and conn.snd_nxt != conn.tester_isn:
            state = None
            if Capability.STATE in self.target.capabilities:
                try:
                    state = self.target.state(self.key)
                except TargetError:
                    state = None
            if state not in ("CLOSED", "TIME_WAIT", "LISTEN"):
                seqs, first = cleanup_seqs(conn), None
                for seq in seqs:
                    rst = cleanup_rst(self.key, seq)
                    sent = self.link.send(rst)
                    self.record("out", rst, sent.at, None, "cleanup: reset the connection so no state leaks", sent.frame)
                    first = sent.at if first is None else first
                assert first is not None
                yield from self._after_cleanup(first, seqs)
                self._cleanup_with_ack(self.key, seqs[0], conn.rcv_nxt)
        try:
            for key in dict.fromkeys((self.own_key, self.key)):
                self.target.forget(key)
        except TargetError as err:  # the verdict stands; the next case will meet the problem itself
            self.result.target_events.append(TargetEvent(self._rel(self.link.now()), "error", f"forget failed: {err}"))
        self.result.duration = round(self.link.now() - self.t0, 6)
        self._checksum_unjudged()
        self._late_unjudged()

    def _cleanup_with_ack(self, key: FourTuple, seq: int, ack: int | None) -> None:
        """Send the last cleanup segment, a RST+ACK (:data:`CLEANUP_WITH_ACK`), once the target's ISN is known."""
        if ack is not None:
            rst = cleanup_rst(key, seq, ack)
            sent = self.link.send(rst)
            self.record("out", rst, sent.at, None, CLEANUP_WITH_ACK, sent.frame)

    def note_lateness(self, late: float) -> None:
        """The scheduler handed the case what it waited for ``late`` seconds after it was due; only
        what comes before a failure can have caused it."""
        if self.result.verdict == "pass" and late > self.late:
            self.late = late

    def _late_unjudged(self) -> None:
        """A failure after the tester itself reacted (or was handed a segment) more than :data:`LATE_LIMIT` late is not the
        target's for sure (the target's timers ran on while the tester did not answer), so the case
        is skipped, with how late the tester was."""
        res = self.result
        if res.verdict != "fail" or self.late <= LATE_LIMIT:
            return
        res.verdict, res.failed_level = "skip", None
        self.late_skip = True
        res.reason = (f"the tester reacted {self.late * 1000:.0f} ms late (this machine was busy), so the failure it "
                      f"saw may be its own: {res.reason}; run the case again with fewer --jobs or a quieter machine")

    def _checksum_unjudged(self) -> None:
        """A case whose only purpose is the checksum (every requirement its steps judge is the
        ``checksum`` invariant's; one it lists for the coverage alone does not count) passes only
        when the checksum of every segment it got could be verified: one the kernel says was never
        computed proves nothing either way, so the case is skipped."""
        res, unverified = self.result, self.result.unverified_checksums
        if res.verdict != "pass" or not unverified:
            return
        judged = {req.id for step in self.case.steps if kind_of(step).asserts(step)
                  and (req := self.case.requirement(kind_of(step).requirement(step))) is not None}
        if judged != {"checksum"}:
            return
        res.verdict = "skip"
        res.reason = (f"the checksum of {unverified} of the {self.from_target} segment(s) from the target could not "
                      "be verified: the kernel says it was never computed (the target's transmit checksum is "
                      "offloaded, and a veth or TAP passes the frame on without it); turn transmit checksum "
                      "offload off on the target's side ('ethtool -K <its interface> tx off')")


    def _after_cleanup(self, sent_at: float, seqs: list[int]) -> CaseGen:
        """Record what the target sends for :data:`CLEANUP_WINDOW` after the first cleanup RST left
        at ``sent_at``; a RST among it that can only answer a cleanup RST (at ``seqs``) fails the case.

        A RST is never answered with a RST (:data:`RST_NEVER_ANSWERED`), so such an answer fails
        the case at that requirement's level, after any failure of its own steps (which stands).
        Only what cannot answer anything else is judged: a RST that arrived after the cleanup left
        and is either in the form a RST answering an ACK-less segment takes (RST+ACK, its ack at a
        cleanup RST's sequence number, RFC 9293 3.5.2) or came when the tester had sent nothing else
        for a whole window (a RST answering the case's last segment would otherwise look the same).
        The wait is a yield like any step's: the scheduler runs the other cases meanwhile.
        """
        answer = None
        quiet_before = sent_at - self.t_sent >= CLEANUP_WINDOW
        while (got := (yield from self.next(sent_at + CLEANUP_WINDOW))) is not None:
            seg = got.segment
            is_rst = bool(seg.flags & Flags.RST) and got.at >= sent_at
            answers = is_rst and (quiet_before or (bool(seg.flags & Flags.ACK) and seg.ack in seqs))
            note = ("a RST answering the cleanup RST" if answers else
                    "a RST after the cleanup RST, not judged (it may answer the case's last segment)" if is_rst else
                    "after the cleanup RST")
            self.record("in", seg, got.at, None, note, got.frame)
            if answers:
                answer = got
                break  # the verdict is known: the rest of the window would only hold a job slot
        res = self.result
        if answer is None or res.verdict not in ("pass", "skip"):
            return
        req = RST_NEVER_ANSWERED
        res.verdict = "fail"
        res.failed_level = req.level.value
        res.requirements = [*res.requirements, _requirement_ref(req)]
        res.reason = (f"after the last step: the target answered the tester's cleanup RST with "
                      f"{self.conn.summary_in(answer.segment)} {(answer.at - sent_at) * 1000:.3f} ms later; "
                      f"{req.ref} ({req.level.value}): {req.text}")

_CAPS = {Capability.APP: "play its application (no agent)", Capability.STATE: "report its TCP state (no agent)",
         Capability.WRITES: "write data of its own (its service only answers)",
         Capability.CLOSES_FIRST: "close first (its service closes only after the tester's FIN, or never)",
         Capability.KEEPS_OPEN: "keep the connection open after the tester's FIN (its service closes then)",
         Capability.READS: "take the data the tester sends (its service closes without reading)"}
_FAMILY = {"ipv4": "IPv4", "ipv6": "IPv6"}


def _requirement_ref(req: Requirement) -> RequirementRef:
    return RequirementRef(req.id, req.ref, req.level.value, req.rid, req.text)
