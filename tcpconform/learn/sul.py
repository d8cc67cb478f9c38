"""The system under learning: a target over a :class:`~tcpconform.links.base.Link`, as AALpy's ``SUL``.

Each query is one connection of its own: ``pre`` takes the next source port of the learner's range
(a fresh 4-tuple until the range starts over, the session's own on a wire so the kernel's RSTs
stay suppressed in host mode) and has the target's
application listen where it has an agent; ``step`` sends one letter's segment and gathers what comes
back on that 4-tuple until the link has been quiet for ``quiet`` seconds; ``post`` resets the
connection (a RST at the tester's next sequence number, then a RST+ACK, as the engine's cleanup
does) so no state piles up in the target.  An application letter is the application's call (where
the mapper says it has the connection to call on), what comes back, and the tester's ACK of any
data or FIN it made the target send, with what comes back to that, as one answer.  On the
in-process reference the clock is virtual: quiet time costs nothing, and the machine comes out the
same on every run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aalpy.base import SUL

from tcpconform.learn.mapper import APP_INPUTS, DATA, REFUSED, Mapper
from tcpconform.links.base import Link
from tcpconform.targets.base import AppFailed, Capability, Target
from tcpconform.tcp.segment import Flags, FourTuple, Segment

__all__ = ["PORTS", "LinkSUL", "NonDeterministic", "Trace"]

PORTS = range(20000, 60000)
"""The learner's source ports when it is given none (in-process); it takes the next one a query,
starting over at the end of the range."""


class NonDeterministic(Exception):
    """The target answered one input sequence two ways (asked again, or AALpy's cache saw both): its
    answers depend on something the letters do not say, most often timing against the quiescence."""


ACK_ROUNDS = 3
"""The most ACKs an application letter sends: each may release data the target held back (Nagle)."""

Sent = Segment | str | None
"""What one exchange of a step began with: the tester's segment, the application's call as a case's
``app`` step says it (``write 10``, ``close``), or None for a call the target's application refused."""


@dataclass
class Trace:
    """The last query, both ways: for each letter, its exchanges, each what began it and what the
    target sent back to it before it went quiet (none: an application letter with no call made)."""

    steps: list[tuple[str, list[tuple[Sent, list[Segment]]]]] = field(default_factory=list)


@dataclass
class _Counts:
    queries: int = 0
    steps: int = 0


class LinkSUL(SUL):  # type: ignore[misc]  # AALpy's classes carry no type hints
    """The target behind ``link`` as AALpy's system under learning."""

    def __init__(self, link: Link, target: Target, quiet: float, ports: range = PORTS, repeat: int = 1) -> None:
        super().__init__()
        self.link, self.target, self.quiet, self.ports, self.repeat = link, target, quiet, ports, repeat
        self.port = ports.start - 1
        self.mapper: Mapper | None = None
        self.trace = Trace()
        self.counts = _Counts()
        self._listened: set[int] = set()

    def query(self, word: tuple[str, ...]) -> list[str]:
        """``word``'s answers, asked ``repeat`` times over (each on a connection of its own); answers
        that differ raise :class:`NonDeterministic` naming the sequence and each way it was answered."""
        first: list[str] = super().query(word)
        seen = {tuple(first): 1}
        for _ in range(self.repeat - 1):
            again = tuple(super().query(word))
            seen[again] = seen.get(again, 0) + 1
        if len(seen) > 1:
            ways = "; ".join(f"{' '.join(answers)} ({count} of {self.repeat})" for answers, count in seen.items())
            raise NonDeterministic(f"{' '.join(word)}: answered {ways}")
        return first

    def pre(self) -> None:
        self.port = self.port + 1 if self.port + 1 < self.ports.stop else self.ports.start
        key = FourTuple(self.link.local_ip, self.port, self.target.ip, self.target.port)
        self.mapper = Mapper(key)
        self.trace = Trace()
        self.counts.queries += 1
        if Capability.APP in self.target.capabilities and self.target.port not in self._listened:
            self.target.app_listen(key)
            self._listened.add(self.target.port)

    def step(self, letter: str | None) -> str:
        assert self.mapper is not None and letter is not None
        self.counts.steps += 1
        if letter in APP_INPUTS:
            return self._call(self.mapper, letter)
        seg = self.mapper.concrete(letter)
        self.link.send(seg)
        got = self._gather(self.mapper.key.reversed())
        self.trace.steps.append((letter, [(seg, got)]))
        return self.mapper.abstract(got)

    def _call(self, mapper: Mapper, letter: str) -> str:
        """An application letter: its call, then the tester's ACKs of what it made the target send."""
        exchanges: list[tuple[Sent, list[Segment]]] = []
        self.trace.steps.append((letter, exchanges))
        if not mapper.held:  # no call made, no exchange: no time passes either, so no timer of the target's moves
            return REFUSED
        refused = False
        try:
            if letter == "WRITE":
                self.target.app_write(mapper.key, DATA)
            else:
                self.target.app_close(mapper.key)
        except AppFailed:
            refused = True
        back = mapper.key.reversed()
        got = self._gather(back)
        exchanges.append((None if refused else APP_INPUTS[letter], got))
        answers = list(got)
        mapper.abstract(got)  # the numbers of what came, for the ACK
        for _ in range(ACK_ROUNDS):
            ack = mapper.acknowledgment()
            if ack is None:
                break
            self.link.send(ack)
            more = self._gather(back)
            exchanges.append((ack, more))
            answers += more
            mapper.abstract(more)
        if letter == "CLOSE" and not refused:
            mapper.closed()
        said = mapper.abstract(answers)
        return REFUSED if refused and not answers else f"{REFUSED}+{said}" if refused else said

    def post(self) -> None:
        mapper = self.mapper
        if mapper is None:
            return
        k = mapper.key
        for flags in (Flags.RST, Flags.RST | Flags.ACK):
            self.link.send(Segment(k.src, k.dst, k.sport, k.dport, seq=mapper.snd_nxt, ack=mapper.rcv_nxt or 0,
                                   flags=flags))
        self._gather(k.reversed())  # whatever answers the reset stays out of the next query
        self.target.forget(k)

    def _gather(self, key: FourTuple) -> list[Segment]:
        got: list[Segment] = []
        deadline = self.link.now() + self.quiet
        while (left := deadline - self.link.now()) > 0:
            received = self.link.receive(left)
            if received is None:
                break
            if received.segment.key == key:
                got.append(received.segment)
                deadline = self.link.now() + self.quiet  # quiet again for as long before it is over
        return got
