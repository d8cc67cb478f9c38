"""A tiny scripted sans-I/O peer for the engine's own unit tests.

It answers the handshake like a server and then does whatever the test's ``policy`` says, at the
(virtual) times it says, so each of the engine's matching rules can be exercised against exactly
the behaviour it is about.  Claims about real stacks are made elsewhere, over real links.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

from tcpconform.results import TargetEvent
from tcpconform.targets.base import Capability
from tcpconform.tcp.payload import TARGET_SALT
from tcpconform.tcp.segment import Flags, FourTuple, Segment

Reaction = list[tuple[float, Segment]]


def reply(seg: Segment, **fields: object) -> Segment:
    base = dict(src=seg.dst, dst=seg.src, sport=seg.dport, dport=seg.sport, flags=Flags.ACK, window=65535)
    base.update(fields)
    return Segment(**base)  # type: ignore[arg-type]


class FakePeer:
    def __init__(self, policy: Callable[[Segment, float], Reaction], isn: int = 100) -> None:
        self.policy = policy
        self.isn = isn
        self._heap: list[tuple[float, int, Segment]] = []
        self._n = itertools.count()
        self._out: list[Segment] = []
        self.seen: list[Segment] = []

    def handle_segment(self, seg: Segment, now: float) -> None:
        self.seen.append(seg)
        if seg.flags & Flags.RST:
            return
        if seg.flags == Flags.SYN:
            reaction: Reaction = [(0.0, reply(seg, seq=self.isn, ack=seg.seq + 1, flags=Flags.SYN | Flags.ACK))]
        else:
            reaction = self.policy(seg, now)
        for delay, out in reaction:
            heapq.heappush(self._heap, (now + delay, next(self._n), out))
        self.handle_timer(now)

    def segments_to_send(self) -> list[Segment]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def handle_timer(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            self._out.append(heapq.heappop(self._heap)[2])


class NoControl:
    """A target with no agent: segments only."""

    name = "fake peer"
    capabilities = Capability.READS  # its application (none) leaves data to TCP
    implied: frozenset[str] = frozenset()
    data_salt: int | None = TARGET_SALT

    def __init__(self, ip: str = "192.0.2.2", port: int = 8000) -> None:
        self.ip, self.port = ip, port

    def app_listen(self, key: FourTuple) -> None:
        raise AssertionError("no application control")

    def app_connect(self, key: FourTuple) -> None:
        raise AssertionError("no application control")

    def app_read(self, key: FourTuple, count: int) -> bytes:
        raise AssertionError("no application control")

    def app_write(self, key: FourTuple, data: bytes) -> None:
        raise AssertionError("no application control")

    def app_shutdown(self, key: FourTuple) -> None:
        raise AssertionError("no application control")

    def app_close(self, key: FourTuple) -> None:
        raise AssertionError("no application control")

    def app_setsockopt(self, where: FourTuple | int, name: str, value: int) -> None:
        raise AssertionError("no application control")

    def state(self, key: FourTuple) -> str | None:
        return None

    def drain_events(self) -> list[tuple[FourTuple, TargetEvent]]:
        return []

    def forget(self, key: FourTuple) -> None:
        pass
