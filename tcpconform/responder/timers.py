"""The responder's pending deadlines, one per connection, in a heap: the earliest in O(1) amortised.

A host serving tens of thousands of connections (a SYN flood fills the backlog with half-open ones,
each with its SYN-ACK retransmission timer) is asked for its next deadline twice per loop; scanning
every connection made that linear in them.  Here each key has at most one *live* deadline; changing
it pushes a new heap entry and leaves the old one in place, stale, to be skipped when it reaches the
top (lazy invalidation).  Invariants:

- an entry ``(deadline, serial, key)`` is live iff ``_live[key] == (deadline, serial)``; serials are
  unique, so a serial alone tells a live entry, and two entries never compare by key;
- :meth:`Deadlines.earliest` is the minimum of the live deadlines, or ``None`` when there is none;
- the heap holds at most ``2 * live + COMPACT_SLACK`` entries: past that it is rebuilt from the live
  ones (O(live), paid once per as many pushes), so stale entries cannot pile up even when nobody
  asks for the earliest deadline for a long time.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from itertools import count
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

COMPACT_SLACK = 64
"""Stale heap entries tolerated beyond one per live entry before the heap is rebuilt."""


class Deadlines(Generic[K]):
    """At most one deadline per key; the earliest, and the keys due at a time, in O(log n) each."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, K]] = []
        self._live: dict[K, tuple[float, int]] = {}
        self._serial = count()

    def __len__(self) -> int:
        """Keys with a deadline."""
        return len(self._live)

    @property
    def entries(self) -> int:
        """Heap entries, stale ones included (what the memory bound is about)."""
        return len(self._heap)

    def set(self, key: K, deadline: float | None) -> None:
        """``key``'s deadline is now ``deadline`` (``None``: it has none)."""
        current = self._live.get(key)
        if deadline is None:
            if current is not None:
                del self._live[key]
            return
        if current is not None and current[0] == deadline:
            return
        serial = next(self._serial)
        self._live[key] = (deadline, serial)
        heapq.heappush(self._heap, (deadline, serial, key))
        if len(self._heap) > 2 * len(self._live) + COMPACT_SLACK:
            self._heap = [(at, n, k) for k, (at, n) in self._live.items()]
            heapq.heapify(self._heap)

    def _drop_stale(self) -> None:
        heap, live = self._heap, self._live
        while heap:
            _, serial, key = heap[0]
            current = live.get(key)
            if current is not None and current[1] == serial:
                return
            heapq.heappop(heap)

    def earliest(self) -> float | None:
        """The earliest live deadline, or ``None``."""
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[K]:
        """The keys whose deadline is ``<= now``, earliest first; their deadlines are cleared."""
        due: list[K] = []
        heap, live = self._heap, self._live
        while heap and heap[0][0] <= now:
            _, serial, key = heapq.heappop(heap)
            current = live.get(key)
            if current is not None and current[1] == serial:
                del live[key]
                due.append(key)
        return due

    def clear(self) -> None:
        self._heap.clear()
        self._live.clear()
