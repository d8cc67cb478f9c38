"""An in-memory link to a sans-I/O peer in the same process, on a virtual clock.

The peer (the reference responder, or a small scripted peer in unit tests) never reads time; this
link passes it ``now`` and wakes it at ``get_timer()``.  The clock only moves when the engine waits,
and it jumps straight to the next thing that can happen, so a case that waits for a 500 ms bound
runs in microseconds and every run is exactly reproducible.  This link is for speed and
determinism; claims about real stacks are made over a wire link.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Protocol, runtime_checkable

from tcpconform.links.base import Clock, Received, Sent
from tcpconform.tcp.icmp import IcmpError
from tcpconform.tcp.segment import Segment
from tcpconform.wire.icmp import encode_icmp
from tcpconform.wire.tcp import tcp_checksum


class SansIOPeer(Protocol):
    def handle_segment(self, seg: Segment, now: float) -> None: ...
    def segments_to_send(self) -> list[Segment]: ...
    def get_timer(self) -> float | None: ...
    def handle_timer(self, now: float) -> None: ...


@runtime_checkable
class IcmpPeer(Protocol):
    """A peer that also takes ICMP errors; one without :meth:`handle_icmp` never sees them, as a
    stack without an ICMP layer."""

    def handle_icmp(self, message: IcmpError, now: float) -> None: ...


class VirtualClock:
    """A clock that only moves when told to, and never backwards."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance_to(self, t: float) -> None:
        if t > self._now:
            self._now = t

    def tick(self) -> float:
        """Let a microsecond pass: every action takes some time, so no two happen at one instant
        and a report's order of events is the order they happened in."""
        self._now += TICK
        return self._now


TICK = 1e-6

TESTER_IP = "192.0.2.1"
TESTER_IP6 = "2001:db8::1"
"""The tester's addresses in-process: documentation space (TEST-NET-1, RFC 5737; 2001:db8::/32,
RFC 3849), so nothing in-process reaches a real network, and a pcap of it says so."""


class InProcessLink:
    """Link to a :class:`SansIOPeer`: ``send`` hands it the segment, ``receive`` runs its timers."""

    name = "in-process"
    clock: Clock = "virtual"

    def __init__(self, peer: SansIOPeer, virtual_clock: VirtualClock | None = None, latency: float = 20e-6,
                 local_ip: str = TESTER_IP) -> None:
        self.peer = peer
        self.local_ip = local_ip
        self.virtual_clock = virtual_clock or VirtualClock()
        self.latency = latency
        """One-way delay, so that a reply is never stamped at the very instant of its cause."""
        self._queue: deque[Received] = deque()
        self.sent = 0
        self.received = 0
        self.peer_time = 0.0
        """CPU seconds spent inside the peer, so the engine's own cost can be told apart."""

    def now(self) -> float:
        return self.virtual_clock.now()

    def send(self, segment: Segment) -> Sent:
        clock = self.virtual_clock
        sent_at = clock.tick()
        clock.advance_to(sent_at + self.latency)
        t = time.perf_counter()
        self.peer.handle_segment(segment, clock.now())
        self._collect()
        self.peer_time += time.perf_counter() - t
        self.sent += 1
        return Sent(sent_at)

    def send_icmp(self, message: IcmpError) -> Sent:
        """Hand the peer an ICMP error; its frame is built here, for the pcap (there is no other)."""
        clock = self.virtual_clock
        sent_at = clock.tick()
        clock.advance_to(sent_at + self.latency)
        if isinstance(self.peer, IcmpPeer):
            t = time.perf_counter()
            self.peer.handle_icmp(message, clock.now())
            self._collect()
            self.peer_time += time.perf_counter() - t
        self.sent += 1
        return Sent(sent_at, encode_icmp(message))

    def _collect(self) -> None:
        for seg in self.peer.segments_to_send():
            # A checksum of the peer's own choosing is judged as a wire link judges a frame's.
            ok = seg.chksum is None or seg.chksum == tcp_checksum(seg)
            self._queue.append(Received(seg, self.virtual_clock.now() + self.latency, checksum="ok" if ok else "wrong"))

    def receive(self, timeout: float) -> Received | None:
        clock = self.virtual_clock
        deadline = clock.now() + max(timeout, 0.0)
        while True:
            self._collect()  # anything the peer produced outside send(), e.g. on an application call
            if self._queue and self._queue[0].at <= deadline:
                item = self._queue.popleft()
                clock.advance_to(item.at)
                self.received += 1
                return item
            timer = self.peer.get_timer()
            if timer is not None and timer <= deadline:
                clock.advance_to(timer)
                t = time.perf_counter()
                self.peer.handle_timer(clock.now())
                self.peer_time += time.perf_counter() - t
                continue
            clock.advance_to(deadline)
            return None

    def dropped(self) -> None:
        """Nothing: a queue in memory drops no segment."""
        return None

    def close(self) -> None:
        self._queue.clear()
