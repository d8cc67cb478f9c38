"""What the responder marks on its segments on their way out, beyond what the connection built:
the urgent pointer of data its application sent as urgent (RFC 9293 3.8.5, RFC 6093) and the DS
field its socket's option set (RFC 9293 3.9.1.9), with the faults that get either wrong; and the
checksum of the fault ``odd-checksum``.

- **Urgent data** (MUST-62): the application's urgent write sets SND.UP to the sequence number of
  the octet just after it.  Every segment whose sequence number is before SND.UP carries URG and
  SEG.UP = SND.UP - SEG.SEQ while that offset fits 16 bits (Linux's ``tcp_transmit_skb``): the
  segment carrying the urgent data, its retransmissions, and any earlier data sent after the write.
  Urgent mode ends once the peer has acknowledged SND.UP.
- **The DS field** (SHLD-21, SHLD-22): every segment of the connection, pure ACKs, retransmissions
  and the FIN included, carries the DS value in effect when it goes out (:mod:`.iplayer` stamps it);
  the value may change at any time.

Marks are applied in the order segments go out, so "the highest sequence sent so far" tells a
retransmission from new data without the connection saying which is which.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tcpconform.responder.iplayer import stamped
from tcpconform.responder.sockopts import SocketOptions
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, Segment
from tcpconform.wire.tcp import tcp_checksum

UP_MAX = 0xFFFF
"""The largest urgent pointer a header carries: SND.UP further than that is not signalled yet."""


@dataclass(slots=True)
class SendMarks:
    """One connection's marks: its urgent pointer, the end of what it has sent, its first DS value."""

    snd_up: int | None = None
    """SND.UP: the sequence number just after the urgent data (``None``: not in urgent mode)."""
    sent_end: int | None = None
    """The end of the sequence space the marked segments have covered (SND.MAX as seen going out)."""
    first_tos: int | None = None
    """The first DS value other than the default a segment carried (fault ``tos-change-ignored``)."""

    def urgent(self, end: int) -> None:
        """The application's urgent write ends at sequence number ``end``: SND.UP moves there."""
        self.snd_up = end & seqnum.MASK

    def acked(self, snd_una: int) -> None:
        """The peer acknowledged up to ``snd_una``: urgent mode ends once that covers SND.UP."""
        if self.snd_up is not None and seqnum.ge(snd_una, self.snd_up):
            self.snd_up = None


def _urgent(seg: Segment, marks: SendMarks, faults: frozenset[str]) -> Segment:
    up = marks.snd_up
    if up is None or seg.flags & (Flags.SYN | Flags.RST) or not seqnum.lt(seg.seq, up):
        return seg
    offset = seqnum.diff(up, seg.seq)
    if offset > UP_MAX or "urgent-not-flagged" in faults:
        return seg
    if "urgent-pointer-last-octet" in faults:  # RFC 1122 4.2.2.4's pointer: at the last urgent octet
        offset -= 1
    return seg.with_(flags=seg.flags | Flags.URG, urgptr=offset)


def _retransmits(seg: Segment, marks: SendMarks) -> bool:
    """Whether ``seg`` covers only sequence space an earlier marked segment covered; it moves the
    end of what was sent on for new data."""
    length = len(seg.payload) + (1 if seg.flags & (Flags.SYN | Flags.FIN) else 0)
    if not length or seg.flags & Flags.RST:
        return False
    end = seqnum.add(seg.seq, length)
    if marks.sent_end is not None and seqnum.le(end, marks.sent_end):
        return True
    marks.sent_end = end
    return False


def ds_value(seg: Segment, marks: SendMarks, tos: int | None, faults: frozenset[str]) -> int | None:
    """The DS value ``seg`` goes out with, given its socket's (``None``: the default), as the faults
    ``tos-data-only`` and ``tos-change-ignored`` have it."""
    retransmitted = _retransmits(seg, marks)
    if tos is None:
        return None
    if "tos-change-ignored" in faults:
        if marks.first_tos is None:
            marks.first_tos = tos
        tos = marks.first_tos
    if "tos-data-only" in faults and (not seg.payload or retransmitted):
        return None
    return tos


def outgoing(seg: Segment, marks: SendMarks, options: SocketOptions, snd_una: int, faults: frozenset[str]) -> Segment:
    """``seg`` as it goes out: its urgent pointer (see the module docstring), then the IP fields its
    socket's ``options`` set (MUST-48, MUST-49, SHLD-22: :func:`.iplayer.stamped`)."""
    marks.acked(snd_una)
    seg = _urgent(seg, marks, faults)
    tos = ds_value(seg, marks, options.tos, faults)
    return stamped(seg, options if tos == options.tos else replace(options, tos=tos), faults)


def odd_checksum(seg: Segment) -> Segment:
    """Fault ``odd-checksum``: the checksum of a stack that sums whole 16-bit words and forgets the odd
    last byte (the same as summing it as zero).  Right for even lengths, and for a last byte of zero."""
    if len(seg.payload) % 2 == 0:
        return seg
    return seg.with_(chksum=tcp_checksum(seg.with_(payload=seg.payload[:-1] + b"\0")))
