"""The receive side of one connection: RCV.NXT, the application's buffer and out-of-order reassembly.

Kept apart from the TCB so the fiddly part of receiving (trimming duplicates and overlaps, holding
segments that arrive beyond a gap, releasing them when the gap fills, a FIN that arrives early) can be
reasoned about and tested on its own.  All sequence arithmetic is modulo 2^32 (:mod:`tcpconform.tcp.seqnum`).
"""

from __future__ import annotations

from dataclasses import dataclass

from tcpconform.tcp import seqnum


@dataclass(frozen=True, slots=True)
class Arrival:
    """What one segment's text did to the receive side."""

    delivered: int = 0
    """New bytes moved into the application's buffer (this segment's and any it released)."""
    fin: bool = False
    """The peer's FIN is now in order: RCV.NXT has reached it (it has not been consumed yet)."""
    out_of_order: bool = False
    """The segment starts beyond RCV.NXT (a gap precedes it)."""
    filled_gap: bool = False
    """The segment was in order while out-of-order data was waiting (RFC 5681 4.2: ACK at once)."""
    duplicate: bool = False
    """The segment held nothing new (all of it was before RCV.NXT)."""


class ReceiveBuffer:
    """RCV.NXT, unread in-order bytes, and the out-of-order segments waiting for a gap to fill."""

    def __init__(self, rcv_nxt: int, capacity: int) -> None:
        self.rcv_nxt = rcv_nxt & seqnum.MASK
        self.capacity = capacity
        self._ready = bytearray()
        self._ooo: list[tuple[int, bytes]] = []
        self._fin_at: int | None = None
        self.discarding = False
        """Once the application has closed, delivered bytes are dropped instead of kept for it."""

    @property
    def unread(self) -> int:
        return len(self._ready)

    @property
    def free(self) -> int:
        """Buffer space left for new in-order data: what the advertised window is made of."""
        return max(0, self.capacity - len(self._ready))

    @property
    def has_gap(self) -> bool:
        return bool(self._ooo) or self._fin_at is not None

    def read(self, n: int) -> bytes:
        data = bytes(self._ready[:n])
        del self._ready[:n]
        return data

    def discard_unread(self) -> int:
        """Drop everything unread and keep dropping new data (the application has closed)."""
        n = len(self._ready)
        self._ready.clear()
        self.discarding = True
        return n

    def consume_fin(self) -> None:
        """Advance RCV.NXT over the peer's FIN, which occupies one sequence number."""
        self.rcv_nxt = seqnum.add(self.rcv_nxt, 1)
        self._fin_at = None

    def insert(
        self, seq: int, data: bytes, fin: bool, right_edge: int, keep_out_of_order: bool,
        trim_duplicates: bool = True,
    ) -> Arrival:
        """Take the text (and FIN) of an acceptable segment starting at ``seq``.

        Bytes before RCV.NXT are duplicates and trimmed; bytes at or beyond ``right_edge`` (RCV.NXT +
        RCV.WND) are outside the window and trimmed, and so is a FIN that lies beyond them.  A segment
        beyond RCV.NXT is held for later when ``keep_out_of_order`` is set, dropped otherwise.
        ``trim_duplicates=False`` is the fault ``deliver-duplicates``: the already received bytes are
        delivered again as if they were the next ones.
        """
        had_gap = self.has_gap
        fin_seq = seqnum.add(seq, len(data))
        ahead = seqnum.diff(self.rcv_nxt, seq)  # bytes of this segment already received
        if ahead > 0:
            if trim_duplicates:
                data = data[ahead:]
            seq = self.rcv_nxt
        if fin and seqnum.lt(fin_seq, self.rcv_nxt):
            fin = False  # a FIN we already consumed
        room = seqnum.diff(right_edge, seq)
        if len(data) > room:
            data = data[: max(room, 0)]
            fin = False
        if seq != self.rcv_nxt:
            if keep_out_of_order:
                if data:
                    self._ooo.append((seq, data))
                if fin:
                    self._fin_at = fin_seq
            return Arrival(out_of_order=True)
        if fin:
            self._fin_at = fin_seq
        delivered = self._deliver(data)
        delivered += self._release()
        fin_now = self._fin_at is not None and self._fin_at == self.rcv_nxt
        return Arrival(
            delivered=delivered,
            fin=fin_now,
            filled_gap=had_gap and delivered > 0,
            duplicate=not delivered and not fin_now,
        )

    def _deliver(self, data: bytes) -> int:
        if not self.discarding:
            self._ready += data
        self.rcv_nxt = seqnum.add(self.rcv_nxt, len(data))
        return len(data)

    def _release(self) -> int:
        """Move held segments that RCV.NXT has reached into the buffer, trimming overlaps."""
        delivered = 0
        progress = True
        while progress and self._ooo:
            progress = False
            keep: list[tuple[int, bytes]] = []
            for seq, data in self._ooo:
                end = seqnum.add(seq, len(data))
                if seqnum.le(end, self.rcv_nxt):
                    continue  # entirely received already
                if seqnum.le(seq, self.rcv_nxt):
                    delivered += self._deliver(data[seqnum.diff(self.rcv_nxt, seq) :])
                    progress = True
                else:
                    keep.append((seq, data))
            self._ooo = keep
        return delivered
