"""Resets the responder takes and sends around an abort: a RST carrying data (RFC 9293 3.5.3), and the
faults that copy the stacks that get these wrong.

RFC 9293 3.5.3 (SHLD-2, after RFC 1122 4.2.2.12): a received RST may carry data (a diagnostic
text); the RST is processed as any other, its text ignored.  A stack that validates a RST as a
header alone drops such a RST and lives on: the fault ``rst-with-data-ignored``.
"""

from __future__ import annotations

from tcpconform.tcp.segment import Flags, Segment


def rst_ignored(seg: Segment, faults: frozenset[str]) -> bool:
    """Whether a RST that passed the sequence check is dropped before it is acted on: under
    ``ignore-rst`` always, under ``rst-with-data-ignored`` when it carries text."""
    if not seg.flags & Flags.RST:
        return False
    return "ignore-rst" in faults or (bool(seg.payload) and "rst-with-data-ignored" in faults)


def close_aborts(unread: int, faults: frozenset[str]) -> bool:
    """RFC 9293 3.6.1 (SHLD-3): an application that closes with data it never read loses it, and the
    peer learns so from a RST instead of a FIN (as Linux does); ``fin-despite-unread`` (FreeBSD's and
    many small stacks' way) flushes the data and sends the FIN."""
    return unread > 0 and "fin-despite-unread" not in faults


def data_after_close_aborts(closed: bool, seg: Segment, rcv_nxt: int, faults: frozenset[str]) -> bool:
    """RFC 9293 3.6.1 (SHLD-3): new data (beyond RCV.NXT) arriving after the application closed can
    never be read: the connection is reset (Linux, the BSDs); ``data-after-close-discarded``
    acknowledges and drops it, leaving the peer to believe it was delivered."""
    if not closed or not seg.payload or "data-after-close-discarded" in faults:
        return False
    end = (seg.seq + len(seg.payload)) & 0xFFFFFFFF
    return end != rcv_nxt and ((end - rcv_nxt) & 0xFFFFFFFF) < 0x80000000
