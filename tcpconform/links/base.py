"""The one link abstraction the engine talks to.

Like packetdrill's netdev: the engine only ever calls ``send(segment)`` and ``receive(timeout)``
and reads the link's clock.  Which link (in-process responder, in-memory pair, raw socket, TAP) is
chosen once at start-up; nothing above this interface knows which one it got.  The link also owns
time: a wire link's clock is the kernel's (receive timestamps come from the kernel), an in-process
link's is virtual, so a test that waits 500 ms in-process costs no real time.

Rule: :class:`Link` declares every member a caller uses, as packetdrill's ``netdev_ops`` declares
every slot, so a new link cannot silently behave differently by lacking one.  What the wire carried
besides the segment (the exact frame, what could be told of its checksum) travels beside it, in
:class:`Received` and :class:`Sent`; a :class:`~tcpconform.tcp.segment.Segment` is only the segment.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, Protocol, runtime_checkable

from tcpconform.tcp.segment import Segment

Checksum = Literal["ok", "wrong", "unverifiable"]
"""What a link could tell of a received segment's TCP checksum: verified right (``ok``), verified
``wrong``, or ``unverifiable``: the kernel says it was never computed (the sender left it to a
transmit checksum offload, and a veth or a TAP passed the frame on without it), so the field holds
no checksum to judge; neither right nor wrong."""

Clock = Literal["virtual", "kernel"]
"""Whose time a link's ``now()`` is: a virtual clock that moves only when the engine waits, or the
kernel's real time, the clock of its receive timestamps."""


class Received(NamedTuple):
    """A segment the link received (a tuple: made for every segment, it must cost next to nothing)."""

    segment: Segment
    at: float
    """When the segment arrived, on the link's clock."""
    frame: bytes | None = None
    """The exact frame the wire carried, for the pcap; ``None`` on a link without frames."""
    checksum: Checksum = "ok"
    """What could be told of the segment's TCP checksum (what the ``checksum`` invariant judges: it
    fails on ``wrong`` only, and an ``unverifiable`` one is counted, not passed)."""


class Sent(NamedTuple):
    """What ``send`` did with a segment."""

    at: float
    """When the segment was sent, on the link's clock."""
    frame: bytes | None = None
    """The exact frame put on the wire, for the pcap; ``None`` on a link without frames."""


@runtime_checkable
class Link(Protocol):
    name: str
    local_ip: str
    """The tester's address on this link: the source of every segment the engine sends."""
    clock: Clock
    """Whose time :meth:`now` is."""

    def now(self) -> float:
        """The link's clock, in seconds."""
        ...

    def send(self, segment: Segment) -> Sent:
        """Put ``segment`` on the link; says when it was sent, on the link's clock, and in what frame."""
        ...

    def receive(self, timeout: float) -> Received | None:
        """The next segment from the target, or ``None`` once ``timeout`` seconds have passed."""
        ...

    def dropped(self) -> int | None:
        """Frames for the tester the link had to drop unread so far; ``None`` for a link that cannot drop any."""
        ...

    def close(self) -> None: ...
