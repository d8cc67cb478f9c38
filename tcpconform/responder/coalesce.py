"""Where the application's writes end, kept for the fault that sends each write as segments of its own.

RFC 9293 3.9.1.2 (SHLD-27): "The transmitter SHOULD collapse successive bits of pushed data into the
largest segments possible."  The reference responder keeps one byte stream per connection (its send
queue), so queued writes go out together, cut only at the MSS and the windows.  Under the fault
``segment-per-write`` it keeps the size of every write still queued, as a stack that queues the
application's buffers one by one (a chain of pbufs, one per write) and sends each as a segment of its
own: no segment crosses a write's end.  Otherwise nothing is kept, and :meth:`WriteQueue.limit` never
cuts.

Invariant: under the fault the sizes sum to the bytes of the send queue, oldest first.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class WriteQueue:
    """The sizes of the queued writes, oldest first (kept only under ``segment-per-write``)."""

    sizes: deque[int] = field(default_factory=deque)

    def wrote(self, n: int, faults: frozenset[str]) -> None:
        if n and "segment-per-write" in faults:
            self.sizes.append(n)

    def limit(self, size: int) -> int:
        """``size`` cut to what is left of the oldest queued write."""
        return min(size, self.sizes[0]) if self.sizes else size

    def sent(self, n: int) -> None:
        """``n`` bytes left the send queue, from its front."""
        while n and self.sizes:
            taken = min(n, self.sizes[0])
            n -= taken
            if taken == self.sizes[0]:
                self.sizes.popleft()
            else:
                self.sizes[0] -= taken
