"""The test-case model: what a loaded case file becomes.

Everything here is immutable plain data.  The loader (:mod:`tcpconform.cases.load`) builds it from a
case file and guarantees it is well formed; the engine (:mod:`tcpconform.engine`) only reads it.
Every step carries the ``file:line`` it came from, so any verdict can be traced back to the source.

Field values in a segment spec are :mod:`tcpconform.cases.segspec`'s (``int``, ``*``, ``lo..hi``,
``$name``, ``?name``), imported from here as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from tcpconform.cases.segspec import ANY as ANY
from tcpconform.cases.segspec import AnyValue as AnyValue
from tcpconform.cases.segspec import Capture as Capture
from tcpconform.cases.segspec import FieldSpec as FieldSpec
from tcpconform.cases.segspec import OptionSpec as OptionSpec
from tcpconform.cases.segspec import OptionsSpec as OptionsSpec
from tcpconform.cases.segspec import Range as Range
from tcpconform.cases.segspec import SegmentSpec as SegmentSpec
from tcpconform.cases.segspec import Var as Var
from tcpconform.cases.segspec import spec_str as spec_str
from tcpconform.tcp.states import State


@dataclass(frozen=True, slots=True)
class SourceLoc:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class Level(StrEnum):
    """RFC 2119 requirement level; ordered from strongest."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"

    @property
    def rank(self) -> int:
        return {"MUST": 0, "SHOULD": 1, "MAY": 2}[self.value]


@dataclass(frozen=True, slots=True)
class Requirement:
    """An RFC clause a case checks: ``ref`` like ``RFC 9293 3.8.6.3``, ``rid`` like ``MUST-40``."""

    id: str
    ref: str
    level: Level
    text: str = ""
    rid: str | None = None

    def __str__(self) -> str:
        rid = f" {self.rid}" if self.rid else ""
        return f"{self.ref}{rid} ({self.level.value})"


TOLERABLE = frozenset({"ack", "window-update", "retransmission"})
"""What an expect or silence step may let pass while it waits (see README, "Expect semantics"):

- ``ack``: a pure ACK acknowledging nothing beyond what the tester has sent (an intermediate
  cumulative ACK, e.g. 513 before 1025);
- ``window-update``: a pure ACK repeating the last acknowledgment with another window;
- ``retransmission``: a segment whose sequence space was all seen before.

Not in the default, and only by name: ``any`` lets every segment pass, for a step where the RFC
leaves the target a choice (reset, drop or carry on) and the steps after it judge the outcome.
"""

INVARIANTS = frozenset({"ack-not-beyond-sent", "within-window", "mss", "checksum", "options-parse", "mss-only-on-syn",
                        "sack-permitted", "options-offered", "syn-only-options", "ts-every-segment", "ecn-setup",
                        "eol-padding", "no-window-shrink"})
"""Checks applied to every segment received on a case's connection, whatever step is running."""

DEFAULT_INVARIANTS = INVARIANTS - {"options-offered"}
"""The invariants of a case that names none: all but ``options-offered``, which judges the options of
the target's SYN-ACK alone, the same in every connection, so it is judged once, by the cases about
those options that name it (``options-hygiene`` and the negotiation cases), rather than failing
every case of the catalogue on one SYN-ACK habit."""


@dataclass(frozen=True, slots=True)
class Step:
    loc: SourceLoc
    text: str
    """The step's source, as written, for reports."""


@dataclass(frozen=True, slots=True)
class IpSpec:
    """A send step's IP header (its ``ip`` modifier): addresses and the source port by name or as
    written (:data:`tcpconform.tcp.ip.ADDRESS_NAMES`, resolved per family when sent), TTL, TOS, and
    the options of each family, as wire bytes: IPv4's, and IPv6's Destination Options (``None``:
    no such header)."""

    src: str | None = None
    dst: str | None = None
    sport: Literal["target"] | None = None
    ttl: int | None = None
    tos: int | None = None
    options: bytes = b""
    dest_options: bytes | None = None
    source_route: tuple[str, ...] | None = None
    """IPv4: a completed loose source route recorded over these hops (``tester`` or an address), sent
    after ``options`` (:mod:`tcpconform.tcp.srcroute`)."""
    length_delta: int = 0
    """How many bytes the IP length field (IPv4 Total Length, IPv6 Payload Length) is off the
    datagram's true length (0: true)."""


@dataclass(frozen=True, slots=True)
class IpExpect:
    """An expect step's ``ip`` modifier: the TTL / hop limit and the TOS / Traffic Class (its ECN
    bits left out, which are TCP's) the segment's IP header must carry; ``None``: not checked."""

    ttl: int | None = None
    tos: int | None = None
    ecn: str | None = None
    """The two ECN bits alone (RFC 3168 5): ``not-ect``, ``ect`` (ECT(0) or ECT(1)), ``ect0``, ``ect1``, ``ce``."""
    source_route: tuple[str, ...] | None = None
    """IPv4: the return route the segment must carry (an LSRR or SSRR listing these addresses, pointer 4)."""


@dataclass(frozen=True, slots=True)
class SendStep(Step):
    segment: SegmentSpec
    ip: IpSpec | None = None


@dataclass(frozen=True, slots=True)
class ExpectStep(Step):
    segment: SegmentSpec
    within: float | None = None
    """Seconds after the previous step (``None``: the run's default bound)."""
    isn: FieldSpec | None = None
    """Check the absolute sequence number of this SYN (the peer's ISN)."""
    tolerate: frozenset[str] = TOLERABLE
    requirement: str | None = None
    measure: str | None = None
    """Record how long after the previous step the segment came, as the case's figure ``<measure>_ms``."""
    ip: IpExpect | None = None
    early: float = 0.0
    """Seconds before the tester's last send a segment may have come and still be this step's answer:
    0 for a case file (an answer comes after what it answers); a packetdrill script's tolerance, since
    packetdrill judges an outbound packet by its time alone (an ACK of the first of two segments sent
    back to back may come before the second leaves)."""


@dataclass(frozen=True, slots=True)
class SilenceStep(Step):
    duration: float
    tolerate: frozenset[str] = TOLERABLE
    requirement: str | None = None


@dataclass(frozen=True, slots=True)
class FlightStep(Step):
    """The target's flight of new data with no ACK from the tester: at most ``max_segments`` segments of
    new sequence space, the flight ending once ``quiet`` passes with none (the first within ``within``)."""

    max_segments: int
    quiet: float = 0.5
    within: float | None = None
    requirement: str | None = None


@dataclass(frozen=True, slots=True)
class ChallengeBurstStep(Step):
    """``count`` in-window segments that each deserve a challenge ACK (RFC 5961 3.2, 4.2), sent back
    to back; at least one and at most ``at_most`` challenge ACKs may answer them by ``quiet`` after
    the last (RFC 5961 7: the answers are throttled), and the connection must survive."""

    count: int
    at_most: int
    trigger: Literal["rst", "syn"] = "rst"
    quiet: float = 1.0
    requirement: str | None = None


AppAction = Literal["listen", "unlisten", "connect", "read", "write", "shutdown", "close", "setsockopt", "getsockopt", "read-eof",
                    "read-reset"]


@dataclass(frozen=True, slots=True)
class SockOpt:
    """A socket option the application sets: a name of :data:`tcpconform.tcp.sockopts.SOCKET_OPTIONS`."""

    name: str
    value: int


@dataclass(frozen=True, slots=True)
class AppStep(Step):
    """An action of the target's application: ``read`` and ``write`` take a byte count, ``setsockopt``
    an option (on the case's connection once it exists, else on the listening socket), ``getsockopt``
    an option and the least value it must read; an ``urgent`` write sends its bytes as urgent data."""

    action: AppAction
    count: int | None = None
    requirement: str | None = None
    sockopt: SockOpt | None = None
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class StateStep(Step):
    """Assert the target's TCP state for the case's connection (RFC 9293 names, e.g. CLOSE_WAIT)."""

    state: State
    requirement: str | None = None


@dataclass(frozen=True, slots=True)
class WaitStep(Step):
    duration: float


@dataclass(frozen=True, slots=True)
class IsnSampleStep(Step):
    """Open ``count`` half-connections from as many source ports, ``interval`` apart, and keep the
    ISN of each SYN-ACK (each reset at once); every SYN-ACK must acknowledge its SYN + 1.  ``by:
    connect``: the target's application connects ``count`` times instead, and each SYN's ISN is kept
    (each refused at once): the client side's ISNs."""

    count: int
    interval: float = 0.02
    within: float | None = None
    requirement: str | None = None
    by: Literal["syn", "connect"] = "syn"


IsnCheck = Literal["clock-driven", "unpredictable"]

ISN_MIN_BITS = 16.0
"""Below 16 bits of uncertainty an ISN is predictable to within one 64 KiB window: a blind
attacker's first guess already lands in the receive window (RFC 6528 section 1, RFC 5961)."""


@dataclass(frozen=True, slots=True)
class IsnCheckStep(Step):
    """Judge the ISN sample: ``clock-driven`` (no ISN used twice) or ``unpredictable`` (at least
    ``min_bits`` left to guess per ISN, see :mod:`tcpconform.engine.isn`)."""

    check: IsnCheck
    min_bits: float = ISN_MIN_BITS
    requirement: str | None = None


@dataclass(frozen=True, slots=True)
class ReconnectStep(Step):
    """From here on the case speaks from a fresh source port of its own: a new 4-tuple, so a check
    after a reset judges only whether the target answers a new connection (whatever it made of the
    reset), with the case's numbering unchanged."""


Negotiable = Literal["wscale", "timestamps", "ecn", "sack", "sack-blocks"]
NEGOTIABLE: tuple[Negotiable, ...] = ("wscale", "timestamps", "ecn", "sack", "sack-blocks")


@dataclass(frozen=True, slots=True)
class NegotiatedStep(Step):
    """The case goes on only if the tester's SYN offered ``option`` and the target's SYN took it; on a
    target that declined (as it may) the rest of the case is skipped, with the reason."""

    option: Negotiable


@dataclass(frozen=True, slots=True)
class IcmpStep(Step):
    """Send an ICMP(v6) error of kind ``kind`` (:data:`tcpconform.tcp.icmp.KINDS`) about a segment of
    the target's: the last one it sent on the connection (``quote`` ``None``) or the one ``quote``
    describes, in the target's numbering; ``seq_offset`` is added to the quoted sequence number (an
    error about data never sent, RFC 5927 4.1).  ``mtu``: a packet-too-big's MTU, or ``minimum``
    (576 over IPv4, 1280 over IPv6)."""

    kind: str
    quote: SegmentSpec | None = None
    seq_offset: int = 0
    mtu: int | Literal["minimum"] | None = None
    requirement: str | None = None


@dataclass(frozen=True, slots=True)
class HalfOpenStep(Step):
    """Leave ``count`` connections in SYN-RECEIVED on the listening port, one per spare source port;
    one more SYN must still get its SYN-ACK, and then all ``count + 1`` complete and take a byte each
    (:mod:`tcpconform.engine.halfopen`)."""

    count: int
    within: float | None = None
    requirement: str | None = None


@dataclass(frozen=True, slots=True)
class FillWindowStep(Step):
    """The tester sends its stream into the target's receive window, the application reading none of it,
    until the target acknowledges everything it took with a window of zero; at most ``max_bytes``
    (:mod:`tcpconform.engine.fill`)."""

    max_bytes: int
    within: float | None = None
    requirement: str | None = None


@dataclass(frozen=True, slots=True)
class ReopenStep(Step):
    """A new SYN on the case's 4-tuple while the target holds it in TIME-WAIT: ``mode`` says which
    (``timestamp-newer``, ``timestamp-older``, ``sequence-above``) and so what the target must make of
    it (:mod:`tcpconform.engine.reopen`)."""

    mode: str
    within: float | None = None
    requirement: str | None = None


@dataclass(frozen=True, slots=True)
class SlowReadStep(Step):
    """The application reads ``total`` bytes in small pieces, a little apart; every window update the target
    sends meanwhile must open its window by a receiver's silly-window threshold at least
    (:mod:`tcpconform.engine.slowread`)."""

    total: int
    within: float | None = None
    requirement: str | None = None


COUNTED_STEPS: dict[str, type[HalfOpenStep] | type[FillWindowStep] | type[SlowReadStep]] = {
    "half_open": HalfOpenStep, "fill_window": FillWindowStep, "slow_read": SlowReadStep}
"""The step kinds made of a count, a ``within`` and an ``rfc``, by their key: one builder makes them all."""

AnyStep = (SendStep | ExpectStep | SilenceStep | AppStep | StateStep | WaitStep | IsnSampleStep | IsnCheckStep
           | ReconnectStep | NegotiatedStep | IcmpStep | HalfOpenStep | FlightStep | ChallengeBurstStep | FillWindowStep
           | SlowReadStep | ReopenStep)


@dataclass(frozen=True, slots=True)
class Numbering:
    """How a case writes sequence numbers.

    Relative (the default): the file writes the tester's ISN as ``tester`` and the target's ISN as
    ``target`` (both 0 unless the case says otherwise; the seed cases write 0 and 100 so their
    numbers read exactly as the seed diagram).  Absolute: numbers are the wire's, untranslated.
    """

    absolute: bool = False
    tester: int = 0
    target: int = 0


@dataclass(frozen=True, slots=True)
class TestCase:
    id: str
    title: str
    loc: SourceLoc
    requirements: tuple[Requirement, ...]
    steps: tuple[AnyStep, ...]
    description: str = ""
    area: str = ""
    level: Level = Level.MUST
    """The case's level: the strongest level among its requirements unless the file says."""
    faults: tuple[str, ...] = ()
    """Reference-responder faults that must make this case fail (proved by ``selftest``)."""
    no_fault: str | None = None
    """Why no fault applies, when ``faults`` is empty."""
    numbering: Numbering = field(default_factory=Numbering)
    tester_window: int = 5000
    """The window the tester advertises unless a send step says otherwise."""
    tester_mss: int | None = None
    """The MSS the tester offers in its SYN (the ``mss`` invariant's limit); 536 if ``None``."""
    invariants: frozenset[str] = DEFAULT_INVARIANTS
    needs: frozenset[str] = frozenset()
    """Target capabilities the case requires (``app``, ``state``); missing ones skip the case."""
    closed_port: bool = False
    """Address a port the target does not listen on (its service port + 1) instead of its service port."""
    family: str | None = None
    """``ipv4`` or ``ipv6`` when the case makes sense over that address family only (a default that
    differs between them, say); skipped with the reason over the other.  ``None``: both."""
    address: str | None = None
    """``second``: the case speaks to the target's second address, not its first (RFC 9293 3.9.1.1:
    a multihomed target); ``unbound``: its application connects with the port alone bound, and the
    connection is on whichever of the two addresses its SYN comes from.  Either is skipped with the
    reason on a target without a second address."""
    peer: str | None = None
    """``multicast`` or ``broadcast``: the tester's side of the case's connection is that group
    address, so an active open the case asks for is one a target must refuse (MUST-46)."""
    route: tuple[str, ...] = ()
    """IPv4: the source route the target's application sets before its ``app: connect`` (RFC 9293
    MUST-51), its hops first hop first (``tester`` or addresses); the destination, the tester, ends it."""
    alone: bool = False
    """Run with no other case at the same time (statistics over many connections, global target state)."""
    may_crash: bool = False
    """The case may crash or wedge a stack that gets it wrong (malformed options, bad offsets): it
    runs alone and last, and the run checks the target still answers after it."""
    long: bool = False
    """The case's mandated waiting is minutes (R2, a SYN's give-up, a zero window held): it runs
    alone, the reports say so with its expected duration, and ``--quick`` leaves it out."""
    tags: tuple[str, ...] = ()
    matrix_cell: tuple[str, str] | None = None
    """``(state, event)`` for a case generated from a matrix table's cell; ``None`` for a case file."""

    __test__ = False  # not a pytest class, despite the name

    def requirement(self, rid: str | None) -> Requirement | None:
        """The requirement a step checks: the one it names, else the case's first."""
        if rid is not None:
            for req in self.requirements:
                if req.id == rid:
                    return req
        return self.requirements[0] if self.requirements else None
