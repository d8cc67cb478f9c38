"""Wireshark's sequence analysis of a capture: the words its ``tcp.analysis.*`` fields give a segment.

A firmware engineer reads a capture in Wireshark first; the report speaks the same words on its
ladder ("retransmission", "dup ACK #2", "window update", "zero window", "zero window probe",
"keep-alive", "keep-alive ACK", "out-of-order"), decided by the same rules, so a segment the
report calls a retransmission is one Wireshark calls so in the case's pcap (a test holds the two
to each other with tshark).  The rules are those of the Wireshark User's Guide ("TCP Analysis")
and of its TCP dissector, in its order:

- zero window probe: 1 byte of payload at the next expected sequence number while the other
  direction's window is 0 (it does not advance the next expected sequence number);
- zero window: window 0 on a segment without SYN, FIN or RST;
- keep-alive: 0 or 1 byte at one before the next expected sequence number, no SYN, FIN or RST;
- window update: no payload, a non-zero window that changed, the next expected sequence number and
  the direction's last acknowledgment number, no SYN, FIN or RST;
- keep-alive ACK: as a duplicate ACK, right after a keep-alive in the other direction;
- zero window probe ACK: window 0 unchanged, the last ACK (or one more) right after a probe;
- dup ACK #n: no payload, a non-zero unchanged window, the next expected sequence number, the last
  acknowledgment number again, no SYN, FIN or RST; n counts them since the last other segment;
- for a segment with payload, SYN or FIN that does not advance the sequence (before the next
  expected one), and is no keep-alive: a fast retransmission (two dup ACKs or more for its
  sequence number, the last within 20 ms), else out-of-order (within the connection's first RTT,
  3 ms when that is 0, of the highest segment, and not ending where it does), else a spurious
  retransmission (all of it already acknowledged), else a retransmission.  All three are
  retransmissions to Wireshark's ``tcp.analysis.retransmission``.

Every comparison of sequence and acknowledgment numbers is modulo 2^32 (:mod:`tcpconform.tcp.seqnum`);
windows are scaled as Wireshark scales them (both SYNs carried a window scale; never a SYN's).
Pure: segments and times in, words out, nothing read or kept between calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tcpconform.results import CaseResult
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, Segment

RETRANSMISSION = "retransmission"
FAST_RETRANSMISSION = "fast retransmission"
SPURIOUS_RETRANSMISSION = "spurious retransmission"
OUT_OF_ORDER = "out-of-order"
DUP_ACK = "dup ACK"
WINDOW_UPDATE = "window update"
ZERO_WINDOW = "zero window"
ZERO_WINDOW_PROBE = "zero window probe"
ZERO_WINDOW_PROBE_ACK = "zero window probe ACK"
KEEP_ALIVE = "keep-alive"
KEEP_ALIVE_ACK = "keep-alive ACK"

RETRANSMISSIONS = frozenset({RETRANSMISSION, FAST_RETRANSMISSION, SPURIOUS_RETRANSMISSION})
"""What Wireshark's ``tcp.analysis.retransmission`` covers."""
ORDER = (RETRANSMISSION, FAST_RETRANSMISSION, SPURIOUS_RETRANSMISSION, OUT_OF_ORDER, ZERO_WINDOW_PROBE,
         ZERO_WINDOW_PROBE_ACK, KEEP_ALIVE, KEEP_ALIVE_ACK, WINDOW_UPDATE, ZERO_WINDOW, DUP_ACK)
"""The order words are written in: what went wrong with the data first, then what the segment says."""

FAST_RETRANSMISSION_WITHIN = 20_000_000
"""Nanoseconds: a retransmission within 20 ms of the second dup ACK for its sequence number is a fast one."""
OUT_OF_ORDER_DEFAULT = 3_000_000
"""Nanoseconds: the out-of-order threshold when the connection's first RTT is 0 or unknown (Wireshark's 3 ms)."""

# Flags as plain ints: IntFlag arithmetic is slow, and the analysis runs on every segment of a report.
_FIN, _SYN, _RST, _ACK = int(Flags.FIN), int(Flags.SYN), int(Flags.RST), int(Flags.ACK)
_SFR = _SYN | _FIN | _RST


@dataclass(frozen=True, slots=True)
class Analysis:
    """What Wireshark's analysis says of one segment: its flags (of :data:`ORDER`) and its dup ACK number."""

    flags: frozenset[str] = frozenset()
    dup_ack: int = 0
    """``n`` of "dup ACK #n" (1 for the first duplicate); 0 when the segment is no dup ACK."""

    @property
    def words(self) -> tuple[str, ...]:
        """The words in :data:`ORDER`, the dup ACK with its number."""
        return tuple(f"{DUP_ACK} #{self.dup_ack}" if w == DUP_ACK else w for w in ORDER if w in self.flags)

    @property
    def retransmission(self) -> bool:
        return bool(self.flags & RETRANSMISSIONS)


NOTHING = Analysis()


@dataclass(slots=True)
class _Half:
    """One direction of a connection, as the analysis remembers it between segments."""

    seen: bool = False
    isn: int | None = None
    nextseq: int = 0
    nextseq_at: int | None = None
    """When the sequence last advanced, in whole nanoseconds; None before the direction's second
    segment (Wireshark stamps no time for the first, so what follows it is never out-of-order)."""
    lastack: int | None = None
    lastack_at: int = 0
    window: int | None = None
    """The last window, scaled."""
    dupacks: int = 0
    last: frozenset[str] = frozenset()
    """The flags of the direction's last segment (a keep-alive ACK answers a keep-alive)."""
    wscale: int | None = None
    syn: bool = False


@dataclass(slots=True)
class _Conversation:
    halves: dict[tuple[str, int], _Half] = field(default_factory=dict)
    first_at: int | None = None
    first_rtt: int | None = None
    synack: bool = False


def _scaled(seg: Segment, flags: int, fwd: _Half, rev: _Half) -> int:
    """The window as Wireshark counts it: shifted when both SYNs carried a window scale, never on a SYN."""
    if flags & _SYN or fwd.wscale is None or rev.wscale is None:
        return seg.window
    return seg.window << min(fwd.wscale, 14)


def _conversation_key(seg: Segment) -> tuple[tuple[str, int], tuple[str, int]]:
    a, b = (seg.src, seg.sport), (seg.dst, seg.dport)
    return (a, b) if a <= b else (b, a)


def analyse(segments: Iterable[tuple[float, Segment]]) -> list[Analysis]:
    """The analysis of each ``(time, segment)``, in capture order (times in seconds, non-decreasing).

    Segments of several connections may be mixed; each is analysed on its own, and a SYN with a new
    initial sequence number on a known pair of ports starts a new connection, as Wireshark does.
    """
    conversations: dict[tuple[tuple[str, int], tuple[str, int]], _Conversation] = {}
    out: list[Analysis] = []
    for seconds, seg in segments:
        at = round(seconds * 1e9)  # whole nanoseconds, as a pcap stamps them: thresholds compare exactly
        key = _conversation_key(seg)
        conv = conversations.get(key)
        src = (seg.src, seg.sport)
        if conv is not None and int(seg.flags) & (_SYN | _ACK) == _SYN:
            old = conv.halves.get(src)
            if old is not None and old.isn is not None and old.isn != seg.seq:
                conv = None  # the ports are reused by a new connection
        if conv is None:
            conv = conversations[key] = _Conversation()
        out.append(_one(conv, at, seg))
    return out


def _one(conv: _Conversation, at: int, seg: Segment) -> Analysis:
    src, dst = (seg.src, seg.sport), (seg.dst, seg.dport)
    fwd = conv.halves.setdefault(src, _Half())
    rev = conv.halves.setdefault(dst, _Half())
    if conv.first_at is None:
        conv.first_at = at
    flags = int(seg.flags)
    if flags & _SYN:
        fwd.syn, fwd.isn = True, seg.seq
        fwd.wscale = seg.option("WScale")
        conv.synack = conv.synack or bool(flags & _ACK)
    elif flags & _ACK and conv.synack and conv.first_rtt is None:
        conv.first_rtt = at - conv.first_at
    seq, ack, seglen = seg.seq, seg.ack, len(seg.payload)
    window = _scaled(seg, flags, fwd, rev)
    words: set[str] = set()
    dup = 0
    known = fwd.seen
    plain = not flags & _SFR
    same_ack = known and bool(flags & _ACK) and fwd.lastack is not None and ack == fwd.lastack
    at_next = known and seq == fwd.nextseq
    finished = False
    if known and seglen == 1 and at_next and rev.window == 0:
        words.add(ZERO_WINDOW_PROBE)
        finished = True
    if not finished:
        if window == 0 and plain:
            words.add(ZERO_WINDOW)
        if known and seglen <= 1 and seq == seqnum.add(fwd.nextseq, -1) and plain:
            words.add(KEEP_ALIVE)
        if seglen == 0 and window and window != fwd.window and at_next and same_ack and plain:
            words.add(WINDOW_UPDATE)
        if seglen == 0 and window and window == fwd.window and at_next and same_ack and plain \
                and KEEP_ALIVE in rev.last:
            words.add(KEEP_ALIVE_ACK)
            finished = True
    if not finished and seglen == 0 and window == 0 and fwd.window == 0 and at_next and plain \
            and fwd.lastack is not None and ack in (fwd.lastack, seqnum.add(fwd.lastack, 1)) \
            and ZERO_WINDOW_PROBE in rev.last:
        words.add(ZERO_WINDOW_PROBE_ACK)
        finished = True
    if not finished and seglen == 0 and window and window == fwd.window and at_next and same_ack and plain:
        fwd.dupacks += 1
        dup = fwd.dupacks
        words.add(DUP_ACK)
    if not dup:
        fwd.dupacks = 0
    if (seglen > 0 or flags & (_SYN | _FIN)) and KEEP_ALIVE not in words:
        kind = _retransmission(conv, at, seg, fwd, rev)
        if kind:
            words.add(kind)
    end = seqnum.add(seq, _seg_len(seg, flags))
    if (not known or seqnum.gt(end, fwd.nextseq)) and ZERO_WINDOW_PROBE not in words:
        fwd.nextseq, fwd.nextseq_at = end, (at if known else None)
    fwd.window = window
    fwd.lastack, fwd.lastack_at = (ack if flags & _ACK else None), at  # no ACK: the next is no dup ACK
    fwd.last = frozenset(words)
    fwd.seen = True
    return Analysis(frozenset(words), dup) if words else NOTHING


def _seg_len(seg: Segment, flags: int) -> int:
    """:attr:`Segment.seg_len` without IntFlag arithmetic."""
    return len(seg.payload) + (1 if flags & _SYN else 0) + (1 if flags & _FIN else 0)


def _retransmission(conv: _Conversation, at: int, seg: Segment, fwd: _Half, rev: _Half) -> str | None:
    """Which retransmission a segment that carries sequence space is, if it does not advance it.

    Out-of-order compares where the segment ends with SYN and FIN counted (a SYN or FIN sent again
    ends where the first did: a retransmission), the spurious test its payload only."""
    seq, seglen, seg_len = seg.seq, len(seg.payload), _seg_len(seg, int(seg.flags))
    not_advanced = fwd.seen and seqnum.lt(seq, fwd.nextseq)
    if not_advanced and rev.dupacks >= 2 and rev.lastack == seq and at - rev.lastack_at < FAST_RETRANSMISSION_WITHIN:
        return FAST_RETRANSMISSION
    threshold = conv.first_rtt if conv.first_rtt else OUT_OF_ORDER_DEFAULT
    recent = fwd.nextseq_at is not None and at - fwd.nextseq_at < threshold
    if not_advanced and recent and fwd.nextseq != seqnum.add(seq, seg_len):
        return OUT_OF_ORDER
    if seglen > 0 and rev.lastack is not None and seqnum.le(seqnum.add(seq, seglen), rev.lastack):
        return SPURIOUS_RETRANSMISSION
    return RETRANSMISSION if not_advanced else None


def capture_order(case: CaseResult) -> list[int]:
    """Indexes of the case's records that have a frame (or a segment or ICMP error to build one from), in
    the order its pcap holds them: by time, stable, as :func:`tcpconform.report.pcap.case_packets` sorts."""
    present = [i for i, rec in enumerate(case.segments) if rec.segment is not None or rec.frame is not None]
    return sorted(present, key=lambda i: case.segments[i].at)


def case_analysis(case: CaseResult) -> dict[int, Analysis]:
    """The analysis of the case's recorded segments, by index into ``case.segments`` (only those with words)."""
    order = [i for i in capture_order(case) if isinstance(case.segments[i].segment, Segment)]
    found = analyse((case.segments[i].at, case.segments[i].segment) for i in order)
    return {i: a for i, a in zip(order, found, strict=True) if a.flags}


def words_of(analyses: Sequence[Analysis]) -> list[tuple[str, ...]]:
    """Each analysis's words (a convenience for tests and the console)."""
    return [a.words for a in analyses]
