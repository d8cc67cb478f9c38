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

from collections.abc import Callable

from tcpconform.engine.connection import TesterConnection
from tcpconform.engine.outcome import CaseUnobservable
from tcpconform.targets.base import Capability, Target
from tcpconform.targets.service import ServiceModel, ServiceTarget
from tcpconform.tcp import seqnum
from tcpconform.tcp.payload import TESTER_SALT, stream_bytes
from tcpconform.tcp.segment import Flags, FourTuple, Segment, default_mss

DATA = "data the service sent by itself"
DRIVEN_ACK = "the ACK of the bytes the tester sent for the echo to write"

FIN = "the service closed by itself, as its model says"
RIDES = {DATA: "the service's data", FIN: "the service's FIN"}
"""What an ACK rides on, by the reason :func:`own` gave."""


def own(target: Target, conn: TesterConnection, seg: Segment) -> str | None:
    """Why ``seg`` is what the service sent by itself, or ``None``.

    Its data: an echo's checked byte by byte against what the tester sent (no more than that, at
    its own offset, and none of the bytes sent for it to write: those are the case's); chargen's
    and daytime's against their RFC's form.  Its FIN: once the target acknowledged the tester's FIN
    and, for an echo, with everything echoed; daytime's at any time.
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
    if seg.payload:
        conn.service_data_end = seqnum.add(seg.seq, len(seg.payload))
    high = conn.target_high if conn.target_high is not None else conn.rcv_nxt
    new = seqnum.diff(seqnum.add(seg.seq, seg.seg_len), high) if high is not None else 0
    conn.note_received(seg)
    conn.service_sent += max(0, new)
    if seg.flags & Flags.FIN:
        conn.service_closed = True
        if new > 0:
            conn.service_fin = seg


def unseen(target: Target, conn: TesterConnection, seg: Segment) -> int:
    """How far a bare ACK's seq is past the target's highest sequence number seen, when the service
    may have sent that much the tester has not seen yet (its data still in flight, overtaken by the
    ACK): an echo at most what it has not echoed, a writer at most up to the tester's window.
    0 otherwise: then the seq is judged as written."""
    if (not isinstance(target, ServiceTarget) or seg.payload or seg.flags & ~(Flags.ACK | Flags.PSH)
            or conn.target_isn is None or conn.target_high is None):
        return 0
    ahead = seqnum.diff(seg.seq, conn.target_high)
    if ahead <= 0:
        return 0
    model = target.model
    if model.writes == "echo":
        bound = _tester_data(conn) - seqnum.diff(conn.target_high, seqnum.add(conn.target_isn, 1))
    elif model.writes == "own" and conn.our_right_edge is not None:
        bound = seqnum.diff(conn.our_right_edge, conn.target_high)
    else:
        bound = 0
    return ahead if ahead <= bound else 0


def bare(seg: Segment) -> Segment:
    """A service's segment without what the service put in it (its data, its FIN)."""
    return seg.with_(payload=b"", flags=seg.flags & ~(Flags.PSH | Flags.FIN))


def data_of(seg: Segment) -> Segment:
    """A service's segment without its FIN: the data it carries."""
    return seg.with_(flags=seg.flags & ~Flags.FIN)


def after_data(seg: Segment) -> Segment:
    """What a service's segment carries after its data (its FIN, its ACK), at the sequence number
    after the data."""
    return seg.with_(seq=seqnum.add(seg.seq, len(seg.payload)), payload=b"", flags=seg.flags & ~Flags.PSH)


def _bytes_ok(conn: TesterConnection, model: ServiceModel, seg: Segment, offset: int) -> bool:
    if model.writes == "never" or offset < 0:
        return False
    if model.writes == "echo":
        n = len(seg.payload)
        return (offset + n <= _tester_data(conn) and seg.payload == stream_bytes(offset, n, TESTER_SALT)
                and not any(a < offset + n and offset < b for a, b in conn.driven_ranges))
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


def urgent_unobservable(target: Target, seg: Segment) -> CaseUnobservable | None:
    """Why urgent data cannot be sent to ``target``, or ``None``: an echo may take the octet before
    the urgent pointer out of band (BSD sockets and Linux do without ``SO_OOBINLINE``, as RFC 6093
    describes), so what it sends back cannot be checked byte by byte against the stream."""
    if not seg.flags & Flags.URG or not seg.payload or not drives_write(target):
        return None
    return CaseUnobservable(
        "urgent data to an echo: its socket may deliver the urgent octet out of band (the sockets "
        "default, RFC 6093), so its echo cannot be checked against what was sent; the case runs on a "
        "service that does not write (discard) or with an agent")


def drives_write(target: Target) -> bool:
    """Whether an ``app write`` on ``target`` is played by sending it the bytes (an echo's)."""
    return isinstance(target, ServiceTarget) and target.model.writes == "echo"


def for_echo(conn: TesterConnection, key: FourTuple, count: int) -> Segment:
    """The segment that makes an echo write ``count`` bytes: the tester's next ``count`` bytes of
    its stream, from its SND.NXT, acknowledging all it has received, with its last window.
    Sending it moves the case's written tester numbers past it (:func:`driven`): a target's
    ``ack 1`` after the write is its ACK of it.

    One segment, so the echo reads and writes the bytes at once, as an application writing them by
    itself would: sent in pieces, what it writes back, and how it is split, would follow the pieces.
    :class:`CaseUnobservable` when the target's MSS (or window) does not take them in one.
    """
    mss = conn.target_mss or default_mss(key.src)
    room = min(mss, conn.last_window if conn.last_window is not None else mss)
    if count > room:
        raise CaseUnobservable(
            f"the echo cannot be made to write {count} bytes at once: its MSS {mss} (and window) takes "
            f"{room} in one segment, and sent in pieces it writes back what it read of each, in pieces "
            "the case does not expect")
    window = conn.tester_window if conn.tester_window is not None else 0xFFFF
    return Segment(key.src, key.dst, key.sport, key.dport, seq=conn.snd_nxt, ack=conn.rcv_nxt or 0,
                   flags=Flags.ACK | Flags.PSH, window=window,
                   payload=stream_bytes(_tester_data(conn), count, TESTER_SALT))


def echo_owed(conn: TesterConnection) -> bool:
    """Whether an echo still owes the tester some of its data back (the tester's bytes beyond the
    highest the target sent)."""
    if conn.target_isn is None:
        return False
    high = conn.target_high if conn.target_high is not None else seqnum.add(conn.target_isn, 1)
    return seqnum.diff(high, seqnum.add(conn.target_isn, 1)) < _tester_data(conn)


def driven(conn: TesterConnection, count: int) -> None:
    """Note that the tester sent its next ``count`` data bytes for an echo to write."""
    first = _tester_data(conn) - count
    conn.driven_ranges.append((first, first + count))
    conn.driven += count


def acks_driven(target: Target, conn: TesterConnection, seg: Segment) -> str | None:
    """Why ``seg`` is the target's ACK of bytes the tester sent for an echo to write, or ``None``:
    a bare ACK, at the target's next sequence number, acknowledging new data no further than the
    tester sent.  A step written for an application that wrote by itself expects no such ACK."""
    if (not conn.driven or not drives_write(target) or seg.payload or seg.flags != Flags.ACK
            or conn.rcv_nxt is None or seg.seq != conn.rcv_nxt):
        return None
    if conn.last_ack is not None and not seqnum.gt(seg.ack, conn.last_ack):
        return None
    return DRIVEN_ACK if seqnum.le(seg.ack, conn.snd_nxt) else None


def echo_head(target: Target, conn: TesterConnection, seg: Segment) -> int:
    """How many leading bytes of ``seg`` are an echo's own (the tester's data sent back) when the
    rest starts the bytes sent for it to write: the echo joined the two, and the rest is what a
    step expects.  0 when ``seg`` is not such a segment."""
    if not isinstance(target, ServiceTarget) or not drives_write(target) or not seg.payload or conn.target_isn is None:
        return 0
    offset = seqnum.diff(seg.seq, seqnum.add(conn.target_isn, 1))
    end = offset + len(seg.payload)
    starts = [a for a, _ in conn.driven_ranges if offset < a < end]
    if not starts or any(a < starts[0] and offset < b for a, b in conn.driven_ranges):
        return 0
    head = starts[0] - offset
    return head if _bytes_ok(conn, target.model, data_of(seg.with_(payload=seg.payload[:head])), offset) else 0


def split(seg: Segment, head: int) -> tuple[Segment, Segment]:
    """``seg`` as its first ``head`` bytes (no FIN) and the rest, at its own sequence number."""
    first = seg.with_(payload=seg.payload[:head], flags=seg.flags & ~(Flags.FIN | Flags.PSH))
    return first, seg.with_(seq=seqnum.add(seg.seq, head), payload=seg.payload[head:])


def as_if_all_taken(target: Target, conn: TesterConnection, seg: Segment) -> Segment:
    """``seg`` with the ACK it would carry had the target taken all the tester sent for an echo to
    write, when it carries some of those bytes back and acknowledges part of them: an echo sends
    back what it has read so far, with the ACK of so far, so a step written for an application that
    wrote by itself (its ACK unchanged) is not failed for it.  Otherwise ``seg`` itself."""
    if not conn.driven_ranges or not seg.payload or not seg.flags & Flags.ACK or conn.target_isn is None:
        return seg
    if not isinstance(target, ServiceTarget) or not drives_write(target):
        return seg
    first, _ = conn.driven_ranges[-1]
    start = seqnum.add(conn.tester_isn, 1 + first)
    offset = seqnum.diff(seg.seq, seqnum.add(conn.target_isn, 1))
    carries = any(a < offset + len(seg.payload) and offset < b for a, b in conn.driven_ranges)
    if carries and seqnum.ge(seg.ack, start) and seqnum.lt(seg.ack, conn.snd_nxt):
        return seg.with_(ack=conn.snd_nxt)
    return seg


def earlier_fin(conn: TesterConnection, wants: Callable[[Segment], bool]) -> Segment | None:
    """The service's FIN, taken as the service's before, when ``wants`` (a step expecting the
    target's FIN) accepts it as the case numbers it without that FIN: a close the service made by
    itself before the case's ``app close``.  The FIN is then the step's (no longer counted as the
    service's); ``None`` leaves everything as it was."""
    fin = conn.service_fin
    if fin is None:
        return None
    conn.service_sent -= 1
    if wants(fin):
        conn.service_fin = None
        return fin
    conn.service_sent += 1
    return None


def owed_ack(target: Target, conn: TesterConnection, key: FourTuple) -> Segment | None:
    """The ACK a client owes a service that closes first (daytime) for its line, not yet sent:
    acknowledging its data and nothing after it (its FIN stays unacknowledged, so the state the
    case drives it into holds).  A stack may hold its FIN, or resend the line only, until the line
    is acknowledged; a case written for an application that wrote nothing never acknowledges it."""
    if not isinstance(target, ServiceTarget) or target.model.closes != "first":
        return None
    end = conn.service_data_end
    if end is None or conn.rcv_nxt is None or (conn.acked_service is not None and seqnum.ge(conn.acked_service, end)):
        return None
    conn.acked_service = end
    window = conn.tester_window if conn.tester_window is not None else 0xFFFF
    return Segment(key.src, key.dst, key.sport, key.dport, seq=conn.snd_nxt, ack=end, flags=Flags.ACK, window=window)


def holds_open(target: Target, needs: Capability) -> bool:
    """Whether a case that needs ``needs`` runs on an echo that keeps the connection open only by
    holding data: then the tester's window stays closed (``conn.hold``)."""
    return (isinstance(target, ServiceTarget) and target.model.writes == "echo"
            and Capability.KEEPS_OPEN in needs and Capability.APP not in target.capabilities)


def hold_byte(conn: TesterConnection, key: FourTuple) -> Segment:
    """The one byte sent, with the window closed, before the tester's FIN, for the echo to hold: it
    cannot send it back, so its FIN waits behind it (RFC 9293 3.10.4) and CLOSE_WAIT lasts.  The
    case's written tester numbers are to count past it (the caller adds it to ``conn.driven`` once
    sent); the echo's copy of it is the service's own."""
    seg = Segment(key.src, key.dst, key.sport, key.dport, seq=conn.snd_nxt, ack=conn.rcv_nxt or 0,
                  flags=Flags.ACK | Flags.PSH, window=0, payload=stream_bytes(_tester_data(conn), 1, TESTER_SALT))
    conn.held = conn.hold = True
    return seg


def release(conn: TesterConnection, key: FourTuple, window: int) -> Segment:
    """The window update that lets the echo send what it held, then its FIN (the case's ``app close``)."""
    conn.hold = False
    return Segment(key.src, key.dst, key.sport, key.dport, seq=conn.snd_nxt, ack=conn.rcv_nxt or 0,
                   flags=Flags.ACK, window=window)


def window_probe(conn: TesterConnection, seg: Segment) -> str | None:
    """Why ``seg`` is the target probing the tester's closed window, or ``None``: while the echo
    holds its byte, a bare ACK one below its next sequence number (Linux's probe) or the held byte
    itself (BSD's; :func:`own` takes that as the echo's data)."""
    if not conn.hold or seg.payload or seg.flags != Flags.ACK or conn.rcv_nxt is None:
        return None
    return "a probe of the tester's closed window" if seqnum.add(seg.seq, 1) == conn.rcv_nxt else None
