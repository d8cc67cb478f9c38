"""Reopening a connection from TIME-WAIT: which SYN does it, and with what ISN (RFC 9293 3.6.1, RFC 6191).

RFC 9293 3.6.1 lets a stack in TIME-WAIT take a new SYN on the same 4-tuple (MAY-2) if the new
incarnation's ISN is larger than any sequence number the old one used and an old duplicate SYN
cannot reopen it; with timestamps, RFC 6191's test SHOULD be used (SHLD-4).  The reference takes a
SYN (no ACK, no RST) in TIME-WAIT, when its port still listens, as RFC 6191 2 says:

- the old incarnation used timestamps and the SYN carries one: its TSval must be newer than
  TS.Recent (an older one is PAWS's old duplicate: the SYN is left to TIME-WAIT, which ACKs it);
- the old one did not, and the SYN carries one: it reopens;
- the SYN carries none (or the reference takes no timestamps): its sequence number must lie beyond
  the old RCV.NXT (RFC 1122 4.2.2.13's rule).

Linux does the same in ``tcp_timewait_state_process`` (a newer TSval or a sequence number after
RCV.NXT, PAWS first).  The new ISN is the old SND.NXT plus 65537, as Linux picks it: larger than any
number the old incarnation used, so its old duplicates fall outside the new connection's window.

Faults: ``time-wait-no-reopen`` (every SYN in TIME-WAIT is only ACKed: lwIP, most small stacks),
``time-wait-seq-only`` (RFC 1122's sequence rule alone, TSvals unchecked: FreeBSD's ``tcp_twcheck``
applies no PAWS to a SYN), ``time-wait-reopen-same-isn`` (the new incarnation reuses the old ISN, as
a stack whose ISN is a function of the 4-tuple alone, with no clock).
"""

from __future__ import annotations

from tcpconform.responder.connection import Connection
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, Segment
from tcpconform.tcp.states import State

__all__ = ["TIMEWAIT_FAULTS", "reopen_isn", "reopens"]

TIMEWAIT_FAULTS = frozenset({"time-wait-no-reopen", "time-wait-seq-only", "time-wait-reopen-same-isn"})
"""The faults of reopening (named in :data:`~tcpconform.responder.faults.FAULTS`)."""

ISN_STEP = 65537
"""How far beyond the old SND.NXT the new ISN lies (Linux's ``tw_snd_nxt + 65535 + 2``)."""


def _tsval(seg: Segment) -> int | None:
    tsopt = seg.option("Timestamp")
    return tsopt[0] if isinstance(tsopt, tuple) and len(tsopt) == 2 and isinstance(tsopt[0], int) else None


def reopens(old: Connection, seg: Segment, timestamps: bool, faults: frozenset[str]) -> bool:
    """Whether ``seg`` ends ``old``'s TIME-WAIT and opens a new incarnation (module docstring);
    ``timestamps``: whether the new incarnation would take a Timestamps option."""
    if old.state is not State.TIME_WAIT or seg.flags & (Flags.ACK | Flags.RST) or not seg.flags & Flags.SYN:
        return False
    if "time-wait-no-reopen" in faults:
        return False
    above = seqnum.gt(seg.seq, old.rcv.rcv_nxt)
    tsval = _tsval(seg)
    if tsval is None or not timestamps or "time-wait-seq-only" in faults:
        return above
    if not old.neg.ts:
        return True
    return seqnum.gt(tsval, old.neg.ts_recent)


def reopen_isn(old: Connection, faults: frozenset[str]) -> int:
    """The new incarnation's ISN: beyond every number the old one used (the old ISN under
    ``time-wait-reopen-same-isn``)."""
    if "time-wait-reopen-same-isn" in faults:
        return old.iss
    return seqnum.add(old.snd_nxt, ISN_STEP)
