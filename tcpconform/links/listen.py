"""A link on which the tester waits for a device's SYNs (``tcpconform run --listen``).

A device that connects out by itself cannot be told which local port to use, so the connection a
client case speaks on is learned from the device's SYN.  :class:`ListenLink` wraps the run's link
and keeps the engine unaware of it: each client case keeps the 4-tuple the run gave it (its own
source port, the device's address, a port of the run's), and the link maps that 4-tuple onto the
one the device chose.  A case asks for the mapping by arming the link (:meth:`ListenLink.arm`,
through its target's ``app_connect``); the next SYN to the listening address from a 4-tuple no
case holds becomes that case's connection, and from then on every segment on it is renamed both
ways.  Invariants:

- a SYN arriving while no case is armed is passed on unrenamed, so it reaches no case and the
  tester never answers it (the scheduler counts it as a stray): the device will send it again;
- one SYN maps one case, and a mapped 4-tuple stays that case's until it is released, so several
  connections from the device still demultiplex by 4-tuple;
- a released connection is the device's no more: its SYN again (same ISN) maps no other case, and
  one the tester never answered with a SYN is refused with ``<SEQ=0><ACK=ISN+1><CTL=RST,ACK>`` (in
  SYN-SENT an acceptable ACK resets it, RFC 9293 3.10.7.3), so the device connects afresh rather
  than the next case inheriting a connection an earlier case left in some state;
- only the TCP ports and the tester's address are renamed; the frame, its checksum verdict and the
  IP header the wire carried are the wire's own, so the pcap shows the real exchange.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tcpconform.links.base import Clock, Link, Received, Sent
from tcpconform.tcp.icmp import IcmpError
from tcpconform.tcp.segment import Flags, FourTuple, Segment


@dataclass(frozen=True, slots=True)
class Accepted:
    """A device connection a case was given: the wire's 4-tuple, tester first."""

    real: FourTuple
    first_seen: float | None
    """When a SYN from this 4-tuple was first let pass while no case was armed (the device's SYN the
    case sees is then a retransmission of it); ``None`` when the case saw the first one."""


LET_PASS_KEPT = 4096
"""SYNs let pass remembered at most (a device retrying for hours would fill memory otherwise)."""


def _renamed(seg: Segment, key: FourTuple) -> Segment:
    """``seg`` as if sent on ``key`` (sender first)."""
    return seg.with_(src=key.src, sport=key.sport, dst=key.dst, dport=key.dport)


@dataclass
class ListenLink:
    """``inner`` with the tester waiting on ``ip``:``port`` for the device's SYNs (module docstring)."""

    inner: Link
    ip: str
    """The tester's listening address: its own address on the link unless the user names another."""
    port: int
    device_ip: str
    """The device's address: only its SYNs are accepted."""
    _armed: list[FourTuple] = field(default_factory=list)
    _to_real: dict[FourTuple, FourTuple] = field(default_factory=dict)
    _to_case: dict[FourTuple, FourTuple] = field(default_factory=dict)
    _let_pass: dict[FourTuple, float] = field(default_factory=dict)
    _accepted: dict[FourTuple, Accepted] = field(default_factory=dict)
    _head_at: float = 0.0
    """When the first case in line (``_armed[0]``) became first: its wait counts from then."""
    _isn: dict[FourTuple, int] = field(default_factory=dict)
    """The device's ISN on each mapped connection (by the case's 4-tuple)."""
    _answered: set[FourTuple] = field(default_factory=set)
    """Mapped connections (by the case's 4-tuple) the tester sent a SYN on, or refused already."""
    _done: dict[FourTuple, int] = field(default_factory=dict)
    """Released connections (by the wire's 4-tuple) and their ISN: that SYN again maps no case."""
    name: str = field(init=False)
    local_ip: str = field(init=False)
    clock: Clock = field(init=False)

    def __post_init__(self) -> None:
        self.name = f"{self.inner.name}, listening on {self.where}"
        self.local_ip = self.inner.local_ip
        self.clock = self.inner.clock

    @property
    def where(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"

    # -- what the target's control asks ----------------------------------------------------------
    def arm(self, key: FourTuple) -> None:
        """The case on ``key`` (tester first) waits for the device's next SYN; arming it again
        releases the connection it was given before (a case that has the device connect again)."""
        self.release(key)
        if key not in self._armed:
            self._armed.append(key)
            if len(self._armed) == 1:
                self._head_at = self.inner.now()

    def first_in_line_since(self, key: FourTuple) -> float | None:
        """Since when the case on ``key`` has been the next to get a SYN with no other case holding
        a connection of the device's; ``None`` before (others armed before it wait, or the device
        is busy with another case's connection: one that connects one at a time would not connect
        yet, so its wait has not begun)."""
        return self._head_at if self._armed and self._armed[0] == key and not self._to_real else None

    def accepted(self, key: FourTuple) -> Accepted | None:
        """The device connection the case on ``key`` was given, once its SYN came."""
        return self._accepted.get(key)

    def release(self, key: FourTuple) -> None:
        """The case on ``key`` is done with its connection (or stops waiting for one)."""
        if key in self._armed:
            if self._armed[0] == key:
                self._head_at = self.inner.now()
            self._armed.remove(key)
        real = self._to_real.pop(key, None)
        self._accepted.pop(key, None)
        isn = self._isn.pop(key, None)
        answered = key in self._answered
        self._answered.discard(key)
        if real is None or isn is None:
            return
        self._head_at = self.inner.now()
        self._to_case.pop(real, None)
        if len(self._done) >= LET_PASS_KEPT:
            self._done.clear()
        self._done[real] = isn
        if not answered:
            self.inner.send(Segment(real.src, real.dst, real.sport, real.dport, seq=0, ack=(isn + 1) & 0xFFFFFFFF,
                                    flags=Flags.RST | Flags.ACK))

    # -- the Link protocol -----------------------------------------------------------------------
    def now(self) -> float:
        return self.inner.now()

    def send(self, segment: Segment) -> Sent:
        real = self._to_real.get(segment.key)
        if real is None:
            return self.inner.send(segment)
        isn = self._isn.get(segment.key)
        refusal = Flags.RST | Flags.ACK
        refused = segment.flags & refusal == refusal and isn is not None and segment.ack == (isn + 1) & 0xFFFFFFFF
        if segment.flags & Flags.SYN or refused:
            self._answered.add(segment.key)
        return self.inner.send(_renamed(segment, real))

    def send_icmp(self, message: IcmpError) -> Sent:
        quoted = message.quoted  # a segment of the device's, sender first
        real = self._to_real.get(quoted.key.reversed())
        if real is not None:
            message = replace(message, dst=real.dst, quoted=_renamed(quoted, real.reversed()))
        return self.inner.send_icmp(message)

    def receive(self, timeout: float) -> Received | None:
        got = self.inner.receive(timeout)
        if got is None:
            return None
        seg = got.segment
        real = seg.key.reversed()  # tester first
        case = self._to_case.get(real)
        if case is None and self._is_new_syn(seg) and self._done.get(real) != seg.seq:
            case = self._map(real, got.at, seg.seq)
        if case is None:
            return got
        return got._replace(segment=_renamed(seg, case.reversed()))

    def dropped(self) -> int | None:
        return self.inner.dropped()

    def close(self) -> None:
        self.inner.close()

    # -- inside ----------------------------------------------------------------------------------
    def _is_new_syn(self, seg: Segment) -> bool:
        syn = bool(seg.flags & Flags.SYN) and not seg.flags & (Flags.ACK | Flags.RST)
        return syn and seg.dst == self.ip and seg.dport == self.port and seg.src == self.device_ip

    def _map(self, real: FourTuple, at: float, isn: int) -> FourTuple | None:
        if not self._armed:
            if len(self._let_pass) >= LET_PASS_KEPT:
                self._let_pass.clear()
            self._let_pass.setdefault(real, at)
            return None
        case = self._armed.pop(0)
        self._head_at = at
        self._to_real[case] = real
        self._to_case[real] = case
        self._isn[case] = isn
        self._done.pop(real, None)
        self._accepted[case] = Accepted(real, self._let_pass.pop(real, None))
        return case
