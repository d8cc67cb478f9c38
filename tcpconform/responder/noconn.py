"""What the responder sends for a segment that finds no connection (RFC 9293 3.10.7.1, 3.10.7.2).

Pure functions of the segment and the configuration: the host appends what they return.  Invariant:
a RST is never answered (3.10.7.1/2), except under the fault ``answer-rst-with-rst``; every reply is
a RST from the segment's destination to its source.
"""

from __future__ import annotations

from tcpconform.responder.config import ResponderConfig
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, Segment

__all__ = ["closed_reply", "listener_reply", "opens", "rst"]


def rst(seg: Segment, seq: int, ack: int | None = None) -> Segment:
    """The RST answering ``seg``: ``<SEQ=seq><CTL=RST>``, or ``<SEQ=seq><ACK=ack><CTL=RST,ACK>``."""
    flags = Flags.RST if ack is None else Flags.RST | Flags.ACK
    return Segment(src=seg.dst, dst=seg.src, sport=seg.dport, dport=seg.sport,
                   seq=seq & seqnum.MASK, ack=ack or 0, flags=flags)


def _rst_answer(seg: Segment, config: ResponderConfig) -> Segment | None:
    return rst(seg, seq=seg.ack) if config.has("answer-rst-with-rst") else None


def closed_reply(seg: Segment, config: ResponderConfig) -> Segment | None:
    """3.10.7.1, no connection and nothing listening: ``<SEQ=SEG.ACK><CTL=RST>`` for a segment with
    ACK, ``<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`` for one without; nothing for a RST."""
    if seg.flags & Flags.RST:
        return _rst_answer(seg, config)
    if config.has("no-rst-closed-port"):
        return None
    if seg.flags & Flags.ACK:
        return rst(seg, seq=seg.ack)
    if config.has("closed-port-rst-no-ack"):
        return rst(seg, seq=0)
    return rst(seg, seq=0, ack=seqnum.add(seg.seq, seg.seg_len))


def opens(seg: Segment) -> bool:
    """Whether ``seg`` may open a connection on a listening port: a SYN without RST or ACK."""
    return bool(seg.flags & Flags.SYN) and not seg.flags & (Flags.RST | Flags.ACK)


def listener_reply(seg: Segment, config: ResponderConfig) -> Segment | None:
    """3.10.7.2, a listening port and no connection, for a segment that does not :func:`open <opens>`
    one: nothing for a RST, ``<SEQ=SEG.ACK><CTL=RST>`` for an ACK, nothing for anything else."""
    if seg.flags & Flags.RST:
        return _rst_answer(seg, config)
    if seg.flags & Flags.ACK:
        return None if config.has("no-rst-for-stray-ack") else rst(seg, seq=seg.ack)
    if config.has("rst-stray-without-ack"):
        return rst(seg, seq=0, ack=seqnum.add(seg.seq, len(seg.payload) + (1 if seg.flags & Flags.FIN else 0)))
    return None
