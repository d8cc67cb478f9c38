"""The one link abstraction the engine talks to.

Like packetdrill's netdev: the engine only ever calls ``send(segment)`` and ``receive(timeout)``
and reads the link's clock.  Which link (in-process responder, in-memory pair, raw socket, TAP) is
chosen once at start-up; nothing above this interface knows which one it got.  The link also owns
time: a wire link's clock is the kernel's (receive timestamps come from the kernel), an in-process
link's is virtual, so a test that waits 500 ms in-process costs no real time.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

from tcpconform.tcp.segment import Segment


class Received(NamedTuple):
    """A segment the link received (a tuple: made for every segment, it must cost next to nothing)."""

    segment: Segment
    at: float
    """When the segment arrived, on the link's clock."""


@runtime_checkable
class Link(Protocol):
    name: str
    local_ip: str
    """The tester's address on this link: the source of every segment the engine sends."""

    def now(self) -> float:
        """The link's clock, in seconds."""
        ...

    def send(self, segment: Segment) -> float:
        """Put ``segment`` on the link; returns when it was sent, on the link's clock."""
        ...

    def receive(self, timeout: float) -> Received | None:
        """The next segment from the target, or ``None`` once ``timeout`` seconds have passed."""
        ...

    def close(self) -> None: ...
