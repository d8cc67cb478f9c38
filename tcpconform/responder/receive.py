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
        """Held out-of-order pieces ``(seq, data)``: in sequence order, none overlapping another, all
        beyond RCV.NXT and before the right edge of the window, so they hold at most a window's
        bytes however often the peer sends them again."""
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
    def held(self) -> int:
        """Bytes held out of order (at most a window's: no byte is held twice)."""
        return sum(len(data) for _, data in self._ooo)

    def held_runs(self) -> list[tuple[int, int]]:
        """The held octets as contiguous runs ``(first, after last)``, in sequence order: a SACK
        block's edges (RFC 2018 3)."""
        runs: list[tuple[int, int]] = []
        for seq, data in self._ooo:
            end = seqnum.add(seq, len(data))
            if runs and runs[-1][1] == seq:
                runs[-1] = (runs[-1][0], end)
            else:
                runs.append((seq, end))
        return runs

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
        beyond RCV.NXT is held for later when ``keep_out_of_order`` is set, dropped otherwise; of its
        bytes only those not held already are kept (RFC 9293 leaves open which copy of a byte wins:
        here, as for bytes before RCV.NXT, the first received).  In-order text is delivered whole,
        and the held bytes it covers are dropped.
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
                    self._hold(seq, data)
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

    def _hold(self, seq: int, data: bytes) -> None:
        """Keep the bytes of ``data`` (from ``seq``, beyond RCV.NXT) that no held piece has yet."""
        start = seqnum.diff(seq, self.rcv_nxt)
        end = start + len(data)
        out: list[tuple[int, bytes]] = []
        at = start  # the first new byte's offset not yet placed or found held
        for piece in self._ooo:
            piece_start = seqnum.diff(piece[0], self.rcv_nxt)
            if at < end and piece_start > at:
                stop = min(piece_start, end)
                out.append((seqnum.add(seq, at - start), data[at - start:stop - start]))
            at = max(at, piece_start + len(piece[1]))
            out.append(piece)
        if at < end:
            out.append((seqnum.add(seq, at - start), data[at - start:]))
        self._ooo = out

    def _release(self) -> int:
        """Move held pieces that RCV.NXT has reached into the buffer, trimming what it passed."""
        delivered = 0
        done = 0
        for seq, data in self._ooo:
            behind = seqnum.diff(self.rcv_nxt, seq)  # bytes of this piece already received
            if behind < 0:
                break  # a gap before it: it and every later piece wait
            done += 1
            if behind < len(data):
                delivered += self._deliver(data[behind:])
        del self._ooo[:done]
        return delivered
