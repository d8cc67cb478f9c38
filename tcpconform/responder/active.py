"""Active open: what the reference responder does with a segment in SYN_SENT (RFC 9293 3.10.7.3).

The decision is a pure function of the segment, the connection's send sequence variables and the
faults switched on, so the checks can be read (and tested) in the RFC's order on their own;
:class:`~tcpconform.responder.connection.Connection` only carries the decision out.

RFC 9293 3.10.7.3, in order:

1. the ACK bit: an ACK outside ``ISS < SEG.ACK =< SND.NXT`` is unacceptable; the segment is
   discarded and, unless it is a RST itself, answered with ``<SEQ=SEG.ACK><CTL=RST>``;
2. the RST bit: a RST with an acceptable ACK refuses the connection (CLOSED); one without an ACK is
   dropped (RFC 5961 3: a blind RST must not reset a connection being opened);
3. the SYN bit: with an acceptable ACK the connection is ESTABLISHED and the SYN acknowledged; a SYN
   without ACK is a simultaneous open (MUST-10): SYN_RCVD, and ``<SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>``;
4. anything else (neither SYN nor RST) is dropped.

The faults here are mistakes real stacks made: a RST taken without looking at its ACK (the blind
reset of RFC 5961), an acceptable RST ignored (``ignore-rst``, as in the synchronized states), a
SYN-ACK taken whatever it acknowledges, crossing SYNs ignored (a stack that only knows the SYN-ACK
in SYN_SENT), a SYN retransmitted never or without backing off, and a SYN without an MSS option.
"""

from __future__ import annotations

from enum import Enum

from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, Segment

ACTIVE_FAULTS = frozenset({"syn-sent-rst-without-ack", "synack-bad-ack-accepted", "no-simultaneous-open",
                           "syn-no-backoff", "syn-no-retransmit", "syn-no-mss"})
"""The faults of the active open (named in :data:`~tcpconform.responder.faults.FAULTS`)."""


class SynSent(Enum):
    """What a segment in SYN_SENT leads to."""

    DROP = "drop"
    """Discard the segment, nothing sent, the state unchanged."""
    RESET_ACK = "reset-ack"
    """Discard it and answer ``<SEQ=SEG.ACK><CTL=RST>``: its ACK acknowledges something never sent."""
    REFUSED = "refused"
    """An acceptable RST: the connection is refused (CLOSED)."""
    ESTABLISH = "establish"
    """A SYN-ACK acknowledging the SYN: ESTABLISHED, ACK it."""
    SIMULTANEOUS = "simultaneous"
    """A SYN without ACK: SYN_RCVD, send the SYN-ACK."""


def acceptable_ack(seg: Segment, iss: int, snd_nxt: int) -> bool:
    """``ISS < SEG.ACK =< SND.NXT`` (RFC 9293 3.10.7.3, first check): the ACK acknowledges the SYN."""
    return seqnum.lt(iss, seg.ack) and seqnum.le(seg.ack, snd_nxt)


def syn_sent(seg: Segment, iss: int, snd_nxt: int, faults: frozenset[str]) -> SynSent:
    """RFC 9293 3.10.7.3 for ``seg`` arriving in SYN_SENT, with the faults of :data:`ACTIVE_FAULTS`."""
    flags = seg.flags
    has_ack = bool(flags & Flags.ACK)
    ack_ok = has_ack and acceptable_ack(seg, iss, snd_nxt)
    if flags & Flags.RST:
        if "ignore-rst" in faults:
            return SynSent.DROP
        if ack_ok or "syn-sent-rst-without-ack" in faults:
            return SynSent.REFUSED
        return SynSent.DROP
    if has_ack and not ack_ok:
        if flags & Flags.SYN and "synack-bad-ack-accepted" in faults:
            return SynSent.ESTABLISH
        return SynSent.RESET_ACK
    if not flags & Flags.SYN:
        return SynSent.DROP
    if has_ack:
        return SynSent.ESTABLISH
    return SynSent.DROP if "no-simultaneous-open" in faults else SynSent.SIMULTANEOUS


def syn_retransmits(faults: frozenset[str]) -> bool:
    """Whether the active opener's SYN is retransmitted at all (not under ``syn-no-retransmit``)."""
    return "syn-no-retransmit" not in faults


def syn_backs_off(faults: frozenset[str]) -> bool:
    """Whether the SYN's retransmission timeout doubles (not under ``syn-no-backoff``, nor ``no-backoff``)."""
    return not faults & {"syn-no-backoff", "no-backoff"}


def syn_mss(own_mss: int, configured: int | None, faults: frozenset[str]) -> int | None:
    """The MSS option of the active opener's SYN: always one (SHLD-5 asks for it whenever the MSS is
    not the default, and every stack of note sends it), the configured one if any, else its own MSS;
    none under ``syn-no-mss``, as a minimal stack that implements no option."""
    if "syn-no-mss" in faults:
        return None
    return configured or own_mss
