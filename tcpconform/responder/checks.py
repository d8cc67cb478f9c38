"""Header checks a receiving stack makes before TCP processing proper.

A :class:`~tcpconform.tcp.segment.Segment` leaves ``chksum`` and ``dataofs`` at ``None`` to mean "whatever
is correct"; a test case sets them to send a malformed segment on purpose.  A real stack silently
drops such a segment (RFC 9293 3.1: a bad checksum MUST be discarded; a data offset that does not
describe the header cannot be parsed), so the reference responder must too, or the test cases that
probe this could never fail.  To judge an explicit checksum the responder computes the right one
(:func:`tcpconform.wire.tcp.tcp_checksum`, which serialises options as Scapy does).
"""

from __future__ import annotations

from tcpconform.tcp.options import SPOKEN
from tcpconform.tcp.segment import Segment
from tcpconform.wire.tcp import encode_options, tcp_checksum

__all__ = ["KNOWN_OPTIONS", "malformed"]

KNOWN_OPTIONS = frozenset(SPOKEN)
"""Option kinds the responder knows by name; any other kind is carried as its number and ignored."""


def malformed(seg: Segment, check_checksum: bool = True, check_dataofs: bool = True) -> str | None:
    """Why a receiver would discard ``seg`` before TCP processing, or ``None`` if it would not.

    The two switches exist for the faults ``accept-bad-checksum`` and ``accept-bad-dataofs``.
    """
    if seg.ip is not None and seg.ip.length_delta and check_checksum:
        # the datagram's extent is its length field's: the segment runs short of what was sent, or
        # claims bytes that never came, and its checksum (over its length) fails either way
        return f"IP length field {seg.ip.length_delta:+d} bytes off the datagram's: the TCP checksum fails"
    if seg.dataofs is not None and check_dataofs:
        try:
            natural = (20 + len(encode_options(seg.options))) // 4
        except ValueError:
            natural = None
        if seg.dataofs < 5:
            return f"data offset {seg.dataofs} is shorter than the 20-byte header"
        if natural is not None and seg.dataofs != natural:
            return f"data offset {seg.dataofs} does not match the header ({natural} words)"
    if not check_checksum:
        return None
    if seg.chksum == "bad":
        return "bad checksum (deliberately wrong)"
    if isinstance(seg.chksum, int):
        try:
            correct = tcp_checksum(seg)
        except ValueError:
            return None  # options we cannot serialise: nothing to compare with, give the benefit of the doubt
        if seg.chksum != correct:
            return f"bad checksum {seg.chksum:#06x} (correct {correct:#06x})"
    return None
