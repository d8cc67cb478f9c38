"""What a target's service sends by itself, as its model says (:mod:`tcpconform.targets.service`).

A case is written for an application the tester drives; a service acts on its own: an echo sends
back what it reads and closes after the tester's FIN, chargen writes from the start, daytime writes
a line and closes first.  :func:`own` says whether a segment is such an act, so a step accepts it
(tolerated, or carrying the ACK it expects) instead of failing on it; :func:`take` notes it, moving
the case's written target numbers past the sequence space it took, so a case's ``101`` stays the
target's next number whatever the service legitimately sent.  Anything the model does not allow
(a FIN before the tester's, an echo of bytes never sent) is judged as usual.
"""

from __future__ import annotations

from tcpconform.engine.connection import TesterConnection
from tcpconform.targets.base import Target
from tcpconform.targets.service import ServiceModel, ServiceTarget
from tcpconform.tcp import seqnum
from tcpconform.tcp.payload import TESTER_SALT, stream_bytes
from tcpconform.tcp.segment import Flags, Segment

DATA = "data the service sent by itself"
FIN = "the service closed by itself, as its model says"
RIDES = {DATA: "the service's data", FIN: "the service's FIN"}
"""What an ACK rides on, by the reason :func:`own` gave."""


def own(target: Target, conn: TesterConnection, seg: Segment) -> str | None:
    """Why ``seg`` is what the service sent by itself, or ``None``.

    Its data: an echo's checked byte by byte against what the tester sent (no more than that, at
    its own offset), chargen's and daytime's against their RFC's form.  Its FIN: once the target
    acknowledged the tester's FIN and, for an echo, with everything echoed; daytime's at any time.
    """
    if not isinstance(target, ServiceTarget) or seg.flags & (Flags.SYN | Flags.RST):
        return None
    model = target.model
    if conn.target_isn is None or not (seg.payload or seg.flags & Flags.FIN):
        return None
    offset = seqnum.diff(seg.seq, seqnum.add(conn.target_isn, 1))
    if seg.payload and not _bytes_ok(conn, model, seg, offset):
        return None
    if seg.flags & Flags.FIN and not _closes_now(conn, model, seg, offset):
        return None
    return FIN if seg.flags & Flags.FIN else DATA


def take(conn: TesterConnection, seg: Segment) -> None:
    """Note a segment the service sent by itself; the new sequence space it takes (not a
    retransmission's) moves the case's written target numbers past it."""
    high = conn.target_high if conn.target_high is not None else conn.rcv_nxt
    new = seqnum.diff(seqnum.add(seg.seq, seg.seg_len), high) if high is not None else 0
    conn.note_received(seg)
    conn.service_sent += max(0, new)
    if seg.flags & Flags.FIN:
        conn.service_closed = True


def bare(seg: Segment) -> Segment:
    """A service's segment without what the service put in it (its data, its FIN)."""
    return seg.with_(payload=b"", flags=seg.flags & ~(Flags.PSH | Flags.FIN))


def _bytes_ok(conn: TesterConnection, model: ServiceModel, seg: Segment, offset: int) -> bool:
    if model.writes == "never" or offset < 0:
        return False
    if model.writes == "echo":
        n = len(seg.payload)
        return offset + n <= _tester_data(conn) and seg.payload == stream_bytes(offset, n, TESTER_SALT)
    return model.check is None or model.check(offset, seg.payload) is None


def _tester_data(conn: TesterConnection) -> int:
    """How many data bytes the tester has sent (its SYN and FIN take no data offset)."""
    end = conn.tester_fin if conn.tester_fin is not None else conn.snd_nxt
    return max(0, seqnum.diff(end, seqnum.add(conn.tester_isn, 1)))


def _closes_now(conn: TesterConnection, model: ServiceModel, seg: Segment, offset: int) -> bool:
    """Whether the model lets the service close here: daytime closes first, whenever; the others
    once the target acknowledged the tester's FIN, an echo only with everything echoed (its FIN
    right after the last byte the tester sent)."""
    if model.closes == "first":
        return True
    fin = conn.tester_fin
    if fin is None or not seg.flags & Flags.ACK or not seqnum.gt(seg.ack, fin):
        return False
    return model.writes != "echo" or offset + len(seg.payload) == _tester_data(conn)
