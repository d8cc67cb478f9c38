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

from tcpconform.tcp.icmp import IcmpError
from tcpconform.tcp.segment import Flags, Segment
from tcpconform.wire.ip import header_fields

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


def wire_segments(got: Received, mss: int) -> list[Received]:
    """What the wire would carry for ``got``: itself, or, for a segmentation-offload aggregate, the
    segments of at most ``mss`` bytes its NIC would cut it into (built anew for the pcap: the
    aggregate itself never was on a wire).

    A local peer (a veth or TAP) hands over its TCP's output before segmentation: one frame with
    many segments' data, its checksum not filled in (``unverifiable``: a frame that crossed a wire
    always has one).  Its TCP set the segment size from the MSS the tester offered, so the
    pieces are that size; each carries the aggregate's header, the PSH and FIN only the last."""
    seg = got.segment
    if got.checksum != "unverifiable" or len(seg.payload) <= mss or mss <= 0 or seg.flags & Flags.SYN:
        return [got]
    pieces = []
    # Each piece carries the aggregate's IP header fields: it has no frame to read them from.
    ip = seg.ip if seg.ip is not None or got.frame is None else header_fields(got.frame)
    last_flags = seg.flags
    body = seg.flags & ~(Flags.PSH | Flags.FIN)
    for at in range(0, len(seg.payload), mss):
        chunk = seg.payload[at:at + mss]
        final = at + mss >= len(seg.payload)
        piece = seg.with_(seq=(seg.seq + at) & 0xFFFFFFFF, payload=chunk, flags=last_flags if final else body,
                          chksum=None, ip=ip)
        pieces.append(Received(piece, got.at, None, "unverifiable"))
    return pieces


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

    def send_icmp(self, message: IcmpError) -> Sent:
        """Put an ICMP(v6) error about one of the target's segments on the link, as a router on the
        path would send it (:mod:`tcpconform.wire.icmp`); says when and in what frame."""
        ...

    def receive(self, timeout: float) -> Received | None:
        """The next segment from the target, or ``None`` once ``timeout`` seconds have passed."""
        ...

    def dropped(self) -> int | None:
        """Frames for the tester the link had to drop unread so far; ``None`` for a link that cannot drop any."""
        ...

    def close(self) -> None: ...
