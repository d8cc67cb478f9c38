"""Whether the target still answers: the liveness probe, and what a run makes of a dead target.

A target that died (wedged, crashed, spinning) answers nothing, and every case after it would fail
with "nothing arrived", each blamed on its own RFC clause: false verdicts.  So the run checks:

- before the first case (a target that does not answer then is a set-up error, not 120 timeouts);
- after every case that ended in silence (:func:`ended_in_silence`) and after every case that
  declares ``may_crash``.

The probe is a SYN from a port of the run's own (one of :data:`PROBE_PORTS` reserved at the top of
its port block, a fresh one each time, so no probe meets a 4-tuple an earlier one left behind) to
the target's port.  Any segment back on that 4-tuple means the stack is alive: a SYN-ACK (a
listening port; the tester resets the half-open connection at once) or a RST (nothing listens:
the in-process reference and the Linux agent before any case listens).  That holds for every kind
of target.  The SYN is sent :data:`PROBE_TRIES` times, :data:`PROBE_INTERVAL` apart, so one lost
frame on a wire does not declare a live target dead.

The probe is a generator like a case (:class:`Probe`), driven by the scheduler, the only place
that waits; cases already running go on meanwhile, and none starts until the probe has answered.

Which case killed a target is told only where it can be shown (:class:`Alive`).  A stack reads
its input in order, so once it has answered a segment the tester sent at time t, it read, and
outlived, everything sent before t.  An answer is a probe's (to its first SYN) or any segment from
the target, on any connection, that acknowledges what a segment of the tester's ended with (the
earliest segment that did, to stay on the safe side).  Arriving is not answering: a wedged stack's
timers go on retransmitting what it sent before, so the time a segment came proves nothing.  When
the target is found dead, the suspects are the cases that sent a segment it is not proven to have
outlived; only a single suspect is blamed.
"""

from __future__ import annotations

import contextlib
import math
import shlex
import subprocess
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from tcpconform.engine.waits import Recv, Waiting
from tcpconform.errors import SetupError
from tcpconform.links.base import Link, Received
from tcpconform.results import CaseResult
from tcpconform.targets.base import Restartable, Target, TargetError
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, FourTuple, Segment

PROBE_PORTS = 64
"""Source ports at the top of a run's block kept for probes, used in turn."""
PROBE_TRIES = 3
PROBE_INTERVAL = 1.0
"""Seconds between the probe's SYNs; a live stack answers one within a round trip."""
PROBE_ISN = 0x7C0DE000
RESTART_WAIT = 30.0
"""Seconds the run waits, after ``--restart``, for the target to answer again."""

NOT_ANSWERING = "target not answering"
"""How every case a dead target kept from running is reported: a skip, with this reason first."""
DIED_AFTER = "the target stopped answering after this case; it answered before it"
"""The verdict's reason on the case after which the target died."""

SUSPECTED = ("the target stopped answering while these ran: {}; which one stopped it could not be told apart "
             "without --restart")
"""The error (never a fail) on each of several suspects when no restart can tell them apart."""
__all__ = [
    "DIED_AFTER",
    "NOT_ANSWERING",
    "PROBE_INTERVAL",
    "PROBE_PORTS",
    "PROBE_TRIES",
    "RESTART_WAIT",
    "SUSPECTED",
    "Alive",
    "Health",
    "Probe",
    "TargetDown",
    "command_restart",
    "ended_in_silence",
    "forget",
    "mark_died_after",
    "mark_not_run",
    "mark_suspected",
]


class TargetDown(SetupError):
    """The target answers nothing before the first case: the run cannot start."""


def ended_in_silence(res: CaseResult) -> bool:
    """Whether the case's last step that ran waited for the target and nothing came.

    Its failing step saw no segment from the target, or its last step was a silence (which a
    dead target passes as well as a live one).
    """
    ran = [s for s in res.steps if s.verdict not in ("not-run", "skip")]
    if not ran:
        return False
    last = ran[-1]
    if last.verdict == "pass":
        return last.kind == "silence"
    heard = any(seg.direction == "in" and seg.step == last.index for seg in res.segments)
    return last.kind in ("expect", "silence") and not heard


def mark_died_after(res: CaseResult, level: str) -> None:
    """The case after which the target died: a fail, saying so first, whatever else it found."""
    res.reason = DIED_AFTER + (f"; {res.reason}" if res.verdict == "fail" and res.reason else "")
    if res.verdict != "fail":
        res.failed_level = level
    res.verdict = "fail"


def mark_suspected(res: CaseResult, ids: list[str]) -> None:
    """One of several cases that may have killed the target, none shown to: an error naming them all."""
    res.verdict = "error"
    res.failed_level = None
    res.reason = SUSPECTED.format(", ".join(ids))
    for step in res.steps:
        if step.verdict in ("fail", "error"):
            step.verdict = "not-run"


@dataclass
class Alive:
    """What the run has proven of the target's life, in link time (see the module docstring)."""

    proven: float = -math.inf
    """The target read, and outlived, every segment the tester sent before this."""

    def outlived(self, sent: float) -> bool:
        """Whether the target is proven to have read, and lived past, what the tester sent at ``sent``."""
        return sent < self.proven

    def answered(self, at: float) -> None:
        """The target answered what the tester sent at ``at``."""
        self.proven = max(self.proven, at)


def mark_not_run(res: CaseResult, why: str = "", prefix: str = NOT_ANSWERING) -> None:
    """A case a dead target (or an interrupted run) kept from running or finishing: a skip, never
    the target's fail."""
    res.verdict = "skip"
    res.failed_level = None
    res.reason = prefix + (f" ({why})" if why else "")
    for step in res.steps:
        if step.verdict in ("fail", "error"):
            step.verdict = "not-run"


@dataclass
class Probe:
    """One liveness check on ``key`` (a probe port to the target's port); :meth:`body` drives it."""

    key: FourTuple
    link: Link
    tries: int = PROBE_TRIES
    isn: int = PROBE_ISN
    """The probe's SYN's sequence number: a fresh one per probe, so an old probe's answer is not this one's."""
    stale: frozenset[int] = frozenset()
    """What earlier probes' SYN-ACKs acknowledge (their ISN + 1)."""
    inbox: deque[Received] = field(default_factory=deque)
    answered: bool | None = None
    """None while it runs; then whether any segment came back."""
    first_sent: float = math.inf
    """When its first SYN left."""

    def body(self) -> Waiting[None]:
        """A RST or a SYN-ACK proves the target alive, but not a SYN-ACK acknowledging an earlier
        probe's ISN (``stale``): one an earlier probe drew and the target retransmits, its RST lost,
        proves nothing now.  A SYN-ACK acknowledging anything else counts: a stack that gets the
        acknowledgment wrong is alive all the same (its cases judge the number)."""
        k = self.key
        for _ in range(self.tries):
            sent = self.link.send(Segment(k.src, k.dst, k.sport, k.dport, seq=self.isn, flags=Flags.SYN,
                                          window=5000))
            self.first_sent = min(self.first_sent, sent.at)
            while (got := (yield Recv(sent.at + PROBE_INTERVAL))) is not None:
                seg = got.segment
                synack = Flags.SYN in seg.flags and Flags.ACK in seg.flags
                if synack and seg.ack in self.stale:
                    continue
                if synack:  # a listener: close what we opened
                    self.link.send(Segment(k.src, k.dst, k.sport, k.dport, seq=seg.ack, flags=Flags.RST))
                if synack or Flags.RST in seg.flags:
                    self.answered = True
                    return
        self.answered = False


@dataclass
class Health:
    """What a run does about the target's health: its probe ports and how to restart the target."""

    ports: range
    restart: Callable[[], None] | None = None
    """Bring the target back (the user's ``--restart`` command, a fresh responder in-process)."""
    restart_wait: float = RESTART_WAIT
    _next: int = 0

    def probe(self, key: FourTuple, link: Link, tries: int = PROBE_TRIES) -> Probe:
        """A probe from the next probe port to the target's port of ``key``."""
        port = self.ports[self._next % len(self.ports)]
        isn = seqnum.add(PROBE_ISN, self._next * 0x10000)
        stale = frozenset(seqnum.add(PROBE_ISN, n * 0x10000 + 1) for n in range(self._next))
        self._next += 1
        return Probe(FourTuple(key.src, port, key.dst, key.dport), link, tries, isn, stale)


def forget(target: Target, key: FourTuple) -> None:
    """Let the target drop what the probe left (nothing, once reset); a failure there changes nothing."""
    with contextlib.suppress(TargetError):
        target.forget(key)


def command_restart(command: str, target: Target, timeout: float = 60.0) -> Callable[[], None]:
    """A restart that runs the user's ``command`` (shell syntax), then restarts the target itself
    where it can (``restart()``: a fresh responder in-process, a reset of the responder on a wire)."""

    def restart() -> None:
        if command.strip():
            try:
                done = subprocess.run(command, shell=True, timeout=timeout, check=False)  # the user's own command line
            except subprocess.TimeoutExpired:
                raise SetupError(f"--restart {shlex.quote(command)} did not finish within {timeout:.0f} s") from None
            if done.returncode != 0:
                raise SetupError(f"--restart {shlex.quote(command)} failed (exit status {done.returncode})")
        if isinstance(target, Restartable):
            target.restart()

    return restart
