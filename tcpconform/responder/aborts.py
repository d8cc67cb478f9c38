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
