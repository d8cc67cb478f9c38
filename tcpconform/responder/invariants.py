"""Rules every segment a conformant TCP sends obeys, checked from the wire alone: the yardstick of
the fuzz campaign (``tcpconform bench --fuzz``) and of the responder's property tests.

:class:`Invariants` watches both directions of one host's traffic, however random the peer's side:
it is told each segment the host took in (:meth:`Invariants.peer_sent`, after the host processed it
without discarding it as malformed) and checks each segment the host sent
(:meth:`Invariants.responder_sent`, with the peer's segment that caused it, if any).  It never looks
inside the host, so it judges the responder as it would judge any stack.  The rules:

- ``syn-with-rst-or-fin``, ``data-on-rst``: no SYN with RST or FIN; no text on a RST;
- ``rst-answers-rst``: a RST is never answered with a RST (RFC 9293 3.10.7.1/2);
- ``rst-numbers``: a RST answering a segment with ACK is ``<SEQ=SEG.ACK><CTL=RST>``, one answering
  a segment without ACK is ``<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`` (3.10.7.1, 3.10.7.2);
- ``syn-ack-of-no-syn``: a SYN-ACK acknowledges a SYN the peer sent on that 4-tuple;
- ``ack-beyond-received``: an ACK never passes what arrived without a gap from the peer's SYN on
  (RCV.NXT only moves over received sequence space, 3.3.1);
- ``above-mss``: no segment carries more than the MSS the peer offered on its SYN (536, or 1220 over
  IPv6, without one or with options that do not parse), nor more than ``own_mss`` (3.7.1);
- ``beyond-window``: new data (beyond the highest sequence number sent) ends within the peer's
  window, ``SND.UNA + SND.WND`` (3.8.6), except a one-octet probe at the window's edge (3.8.6.1).
  Retransmitting data beyond a window the peer shrank is allowed (MAY-7) and not checked, nor is a
  FIN alone (it takes no room in the receiver's buffer).

The window is only known as well as the wire tells it.  A peer segment *surely* updates the window
when it starts at RCV.NXT (known when the host's last ACK equals the end of what arrived without a
gap) and acknowledges more than any earlier one (so it advances SND.UNA): RFC 9293 3.10.7.4 then
takes its window, and the rule checks against its edge.  After other segments, which the host may
rightly have ignored (unacceptable, or old by RFC 9293's SND.WL1/WL2 test), the widest edge that
could have been taken counts.  So a break is always a break; a random peer makes the rule looser,
never wrong.

Memory: per 4-tuple, a few numbers, the last :data:`SYNS_KEPT` SYNs and the gaps in what arrived
(within one maximal window of 65535 octets of RCV.NXT, the furthest any receiver can hold text);
:meth:`Invariants.forget` drops a 4-tuple.
"""

from __future__ import annotations

from bisect import insort
from collections import deque
from dataclasses import dataclass, field

from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, FourTuple, Segment, default_mss

MAX_WINDOW = 0xFFFF
"""The widest window without window scaling: nothing beyond RCV.NXT + this is ever held."""
SYNS_KEPT = 8
"""SYNs of the peer kept per 4-tuple, to find the one a SYN-ACK acknowledges."""


@dataclass(frozen=True, slots=True)
class Break:
    """One segment that broke one rule."""

    rule: str
    segment: Segment
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.segment.summary()} [{self.segment.key}]: {self.detail}"


def _unwrap(x: int, origin: int, near: int) -> int:
    """The offset of sequence number ``x`` from ``origin``, the one of its 2^32 aliases nearest ``near``."""
    return near + seqnum.diff(x, seqnum.add(origin, near))


def offered_mss(syn: Segment) -> int:
    """The peer's MSS as its SYN gives it: the first MSS option, the default without a usable one."""
    if not any(kind == "raw" for kind, _ in syn.options):  # an option list that does not parse is not read
        for kind, value in syn.options:
            if kind == "MSS":
                if isinstance(value, int) and value > 0:
                    return value
                break
    return default_mss(syn.src)


@dataclass(slots=True)
class _Conn:
    """What the wire tells of one connection, sequence numbers as offsets from the ISNs."""

    iss: int
    irs: int
    mss: int
    shift: int = 0
    """The peer's window scale shift (RFC 7323 2.3: 14 at most), once both SYNs carried the option."""
    snd_nxt: int = 1
    """Past the furthest sequence space the host sent (its SYN counts 1)."""
    una_high: int = 0
    """The highest acknowledgment of the peer the host could have taken: SND.UNA is at most this."""
    una_low: int = 0
    """The acknowledgment of the last segment that surely updated the window: SND.UNA is at least this."""
    edge: int | None = None
    """The widest right edge of the send window the host could be using; ``None`` before any."""
    acked: int = 1
    """The host's latest acknowledgment: RCV.NXT is at least this."""
    received: int = 1
    """The end of what arrived without a gap from the SYN on: RCV.NXT is at most this."""
    gaps: list[tuple[int, int]] = field(default_factory=list)
    """Pieces ``[start, end)`` that arrived beyond ``received``, merged, in order."""

    def arrived(self, start: int, end: int) -> None:
        end = min(end, self.received + MAX_WINDOW)
        if end <= self.received:
            return
        if start > self.received:
            insort(self.gaps, (start, end))
            merged: list[tuple[int, int]] = []
            for lo, hi in self.gaps:
                if merged and lo <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
                else:
                    merged.append((lo, hi))
            self.gaps = merged
            return
        self.received = end
        while self.gaps and self.gaps[0][0] <= self.received:
            self.received = max(self.received, self.gaps.pop(0)[1])


@dataclass(slots=True)
class _Tuple:
    syns: deque[Segment] = field(default_factory=lambda: deque(maxlen=SYNS_KEPT))
    conn: _Conn | None = None


class Invariants:
    """The rules of the module docstring, for every connection of one host; see there for how it is fed."""

    def __init__(self, own_mss: int | None = None) -> None:
        self.own_mss = own_mss
        self._tuples: dict[FourTuple, _Tuple] = {}
        self.checked = 0
        """Segments checked so far."""

    def forget(self, key: FourTuple) -> None:
        """Drop what is known of 4-tuple ``key`` (the host's side first, as the host's segments carry it)."""
        self._tuples.pop(key, None)

    def peer_sent(self, seg: Segment) -> None:
        """The host took ``seg`` in (it was for its address and not discarded as malformed)."""
        key = seg.key.reversed()
        flags = seg.flags
        if flags & Flags.SYN and not flags & (Flags.ACK | Flags.RST):
            self._tuples.setdefault(key, _Tuple()).syns.append(seg)
            return
        known = self._tuples.get(key)
        conn = known.conn if known is not None else None
        if conn is None or flags & (Flags.SYN | Flags.RST) or not flags & Flags.ACK:
            return  # no text and no window is taken from these (RFC 9293 3.10.7.4, checks 2 to 5)
        start = _unwrap(seg.seq, conn.irs, conn.received)
        ack = _unwrap(seg.ack, conn.iss, conn.snd_nxt)
        if ack <= conn.snd_nxt:  # an ACK of data never sent is dropped (3.10.7.4, fifth check)
            edge = ack + (seg.window << conn.shift)
            if start == conn.acked == conn.received and ack > conn.una_high:
                conn.edge, conn.una_low = edge, ack  # surely taken: it advances SND.UNA, at RCV.NXT
            elif ack >= conn.una_low:
                conn.edge = edge if conn.edge is None else max(conn.edge, edge)
            conn.una_high = max(conn.una_high, ack)
        conn.arrived(start, start + len(seg.payload) + (1 if flags & Flags.FIN else 0))

    def responder_sent(self, seg: Segment, cause: Segment | None = None) -> list[Break]:
        """The rules ``seg`` from the host breaks; ``cause`` is the peer's segment it answers, if any."""
        self.checked += 1
        out: list[Break] = []
        flags = seg.flags
        if flags & Flags.SYN and flags & (Flags.RST | Flags.FIN):
            out.append(Break("syn-with-rst-or-fin", seg, "SYN together with RST or FIN"))
        if flags & Flags.RST:
            if seg.payload:
                out.append(Break("data-on-rst", seg, f"{len(seg.payload)} octets on a RST"))
            if cause is not None and cause.key == seg.key.reversed():
                out.extend(self._rst_rules(seg, cause))
            return out
        known = self._tuples.get(seg.key)
        if flags & Flags.SYN:
            return out + self._syn_ack(seg, known)
        conn = known.conn if known is not None else None
        if conn is None:
            out.append(Break("no-connection", seg, "a segment other than a RST on a 4-tuple no SYN-ACK opened"))
            return out
        if flags & Flags.ACK:
            acked = _unwrap(seg.ack, conn.irs, conn.received)
            if acked > conn.received:
                out.append(Break("ack-beyond-received", seg,
                                 f"acknowledges {acked - conn.received} octet(s) beyond what arrived without a gap"))
            conn.acked = max(conn.acked, acked)
        limit = conn.mss if self.own_mss is None else min(conn.mss, self.own_mss)
        if len(seg.payload) > limit:
            out.append(Break("above-mss", seg, f"{len(seg.payload)} octets, the MSS is {limit}"))
        length = len(seg.payload) + (1 if flags & Flags.FIN else 0)
        if length:
            start = _unwrap(seg.seq, conn.iss, conn.snd_nxt)
            end = start + length
            if end > conn.snd_nxt:
                if seg.payload:  # a FIN alone takes no room at the receiver
                    out.extend(self._window(seg, conn, start, end, length))
                conn.snd_nxt = end
        return out

    def _rst_rules(self, seg: Segment, cause: Segment) -> list[Break]:
        if cause.flags & Flags.RST:
            return [Break("rst-answers-rst", seg, f"answers the RST {cause.summary()}")]
        if cause.flags & Flags.ACK:
            if seg.flags & Flags.ACK or seg.seq != cause.ack:
                return [Break("rst-numbers", seg, f"answers an ACK: must be <SEQ={cause.ack}><CTL=RST>")]
            return []
        want = seqnum.add(cause.seq, cause.seg_len)
        if not seg.flags & Flags.ACK or seg.ack != want or seg.seq != 0:
            return [Break("rst-numbers", seg, f"answers a segment without ACK: must be <SEQ=0><ACK={want}><CTL=RST,ACK>")]
        return []

    def _syn_ack(self, seg: Segment, known: _Tuple | None) -> list[Break]:
        irs = seqnum.add(seg.ack, -1)
        if not seg.flags & Flags.ACK or known is None:
            return [Break("syn-ack-of-no-syn", seg, "acknowledges no SYN the peer sent on this 4-tuple")]
        syns = [s for s in known.syns if s.seq == irs]
        offers = [offered_mss(s) for s in syns]
        if known.conn is not None and (known.conn.iss, known.conn.irs) == (seg.seq, irs):
            offers.append(known.conn.mss)  # a retransmission: its SYN may be long out of the kept ones
        if not offers:
            return [Break("syn-ack-of-no-syn", seg, "acknowledges no SYN the peer sent on this 4-tuple")]
        # Sent only in SYN-RECEIVED, where nothing but the SYN has been taken in: a fresh start.
        shifts = [s.option("WScale") for s in syns if isinstance(s.option("WScale"), int)]
        again = known.conn is not None and (known.conn.iss, known.conn.irs) == (seg.seq, irs)
        shift = known.conn.shift if again and known.conn is not None and not shifts else 0
        if shifts and isinstance(seg.option("WScale"), int):
            shift = min(max(shifts), 14)
        known.conn = _Conn(iss=seg.seq, irs=irs, mss=max(offers), shift=shift)
        return []

    @staticmethod
    def _window(seg: Segment, conn: _Conn, start: int, end: int, length: int) -> list[Break]:
        if conn.edge is None:
            return [Break("beyond-window", seg, "new data before the peer announced any window")]
        if end > conn.edge and not (length == 1 and start == conn.edge):
            return [Break("beyond-window", seg,
                          f"new data ends {end - conn.edge} octet(s) beyond the peer's window (SND.UNA+SND.WND)")]
        return []
