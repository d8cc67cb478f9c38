"""Selective acknowledgment in the reference responder (RFC 2018): SACK-permitted in the SYN-ACK, SACK
blocks in its ACKs, and the faults that copy the ways real stacks get either wrong.

As a data receiver, when the peer's SYN carried SACK-permitted (and ``cfg.sack`` is on), the SYN-ACK
carries SACK-permitted too, and every ACK without text sent while data is held beyond a gap carries
one SACK option (RFC 2018 4):

- each block's edges are exactly a contiguous run of held octets (left edge its first, right edge
  the one after its last), so no block ever covers acknowledged data or octets not received;
- the first block is the run holding the segment that triggered the ACK, unless that segment
  advanced RCV.NXT; the others follow in the order they were last the trigger, most recent first
  (the most recently reported first), so after a gap fills a block that is still held stays;
- at most as many blocks as fit beside the other options: 3 with timestamps (12 octets of them), 4
  without (10 octets per two blocks' NOPs and header: 2 + 8 n, padded to 4).

A peer that offered no SACK-permitted (the seed cases) sees no SACK option at all, so its exchange
is that of a responder without SACK.  Segments with text carry no SACK option: the MSS they are cut
to then never depends on what is held (RFC 2018 4 asks for SACK in every ACK that does not
acknowledge the highest sequence number held, a SHOULD).

As a data sender the responder reads the SACK blocks it receives for nothing: RFC 2018 lets a sender
ignore them (it retransmits from SND.UNA on its timeout alone), so blocks beyond SND.NXT, below
SND.UNA, with left above right, overlapping, or four of garbage change nothing; the fault
``sack-crash-on-bogus`` wedges the stack on a block beyond SND.NXT instead (the class of the SACK
panic, CVE-2019-11477, and Ripple20's option parsing).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tcpconform.responder.config import ResponderConfig
from tcpconform.responder.receive import ReceiveBuffer
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, Option, Segment

MAX_BLOCKS_WITH_TS = 3
"""SACK blocks that fit beside a Timestamps option: 40 - 12 = 28 octets, 2 NOPs + 2 + 8 * 3 = 28."""
MAX_BLOCKS = 4
"""SACK blocks that fit alone: 2 NOPs + 2 + 8 * 4 = 36 octets of the 40."""
RECENT_KEPT = 16
"""Triggering segments remembered for the blocks' order: more than ever fit in one option."""

_NOP: Option = ("NOP", None)


def sack_wedges(cfg: ResponderConfig, seg: Segment, snd_nxt: int) -> str | None:
    """Why ``seg``'s SACK option wedges the stack under ``sack-crash-on-bogus``, or ``None``: a block
    whose left or right edge lies beyond SND.NXT (``snd_nxt``) sends the scoreboard walk off the end
    of the retransmission queue, as the stacks with SACK panics did."""
    if not cfg.has("sack-crash-on-bogus"):
        return None
    edges = seg.option("SAck")
    if not isinstance(edges, tuple):
        return None
    if any(isinstance(edge, int) and seqnum.gt(edge, snd_nxt) for edge in edges):
        return "a SACK block beyond SND.NXT (fault sack-crash-on-bogus)"
    return None


@dataclass(slots=True)
class SackState:
    """What a connection settled about SACK, and the order its blocks are reported in."""

    cfg: ResponderConfig
    permitted: bool
    """The peer's SYN carried SACK-permitted and the responder takes it: SACK blocks may be sent."""
    answer: bool
    """The SYN-ACK carries SACK-permitted when the SYN did (RFC 2018 2 makes it an offer a SYN carries)."""
    recent: list[tuple[int, int]] = field(default_factory=list)
    """The octets ``(seq, end)`` of the latest segments that arrived beyond RCV.NXT, most recent first."""

    @classmethod
    def of(cls, syn: Segment | None, cfg: ResponderConfig) -> SackState:
        """What the responder answers to ``syn``; an active open's SYN (``syn`` None) offers none."""
        offered = syn is not None and any(kind == "SAckOK" for kind, _ in syn.options)
        permitted = offered and cfg.sack
        return cls(cfg=cfg, permitted=permitted,
                   answer=permitted)

    def arrived(self, seq: int, length: int, rcv_nxt: int) -> None:
        """A segment with ``length`` octets of text from ``seq`` arrived, RCV.NXT being ``rcv_nxt``: one
        beyond RCV.NXT is the trigger whose run goes first; one that advances RCV.NXT names none."""
        if length > 0 and seqnum.gt(seq, rcv_nxt):
            piece = (seq & seqnum.MASK, seqnum.add(seq, length))
            self.recent = [piece, *(p for p in self.recent if p != piece)][:RECENT_KEPT]

    def blocks(self, held: list[tuple[int, int]], timestamps: bool) -> list[tuple[int, int]]:
        """The SACK blocks for ``held`` (the runs of held octets, in sequence order), in reporting
        order and as many as fit, bent by the faults ``sack-wrong-order`` and ``sack-bad-edges``."""
        order: list[tuple[int, int]] = []
        for seq, end in self.recent:
            for run in held:
                if run not in order and seqnum.lt(seq, run[1]) and seqnum.lt(run[0], end):
                    order.append(run)
        order += [run for run in reversed(held) if run not in order]  # none triggered: highest first
        self.recent = [p for p in self.recent if any(seqnum.lt(p[0], r[1]) and seqnum.lt(r[0], p[1]) for r in held)]
        if self.cfg.has("sack-wrong-order"):
            order.reverse()  # oldest first: the triggering segment's block comes last
        order = order[: MAX_BLOCKS_WITH_TS if timestamps else MAX_BLOCKS]
        if self.cfg.has("sack-bad-edges"):
            order = [(left, seqnum.add(right, -1)) for left, right in order]  # the right edge one octet short
        return order

    def options(self, flags: Flags, payload: bytes, rcv: ReceiveBuffer, timestamps: bool) -> tuple[Option, ...]:
        """The SACK options a segment with ``flags`` and ``payload`` gains: SACK-permitted on the
        SYN-ACK, the blocks for what ``rcv`` holds on an ACK without text or SYN."""
        if flags & Flags.RST:
            return ()
        if flags & Flags.SYN:
            return (_NOP, _NOP, ("SAckOK", None)) if self.answer and flags & Flags.ACK else ()
        held = rcv.held_runs() if self.permitted and flags & Flags.ACK and not payload else []
        if not held:
            return ()
        edges = tuple(edge for block in self.blocks(held, timestamps) for edge in block)
        return (_NOP, _NOP, ("SAck", edges))
