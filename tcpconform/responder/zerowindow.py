"""What the reference responder does with segments arriving while its receive window is zero, and the
faults that copy how real stacks get it wrong.

RFC 9293 3.4 (MUST-66) and 3.10.7.4: with RCV.WND zero no text is acceptable, but "special allowance
should be made to accept valid ACKs, URGs, and RSTs": a segment of no length at RCV.NXT is acceptable
(the acceptability table's zero-window row), so a RST there closes the connection and an ACK or URG
there is processed; a segment with text is answered with an ACK of RCV.NXT, and its ACK still counts
(:mod:`.connection` does both).  The faults, each a mistake of real receivers:

- ``zero-window-drops-all``: the acceptability test is ``RCV.NXT <= SEG.SEQ < RCV.NXT + RCV.WND``
  alone, without the table's zero-window row, so while the window is zero nothing is acceptable: a
  RST is dropped, anything else is answered with an ACK and dropped, its acknowledgment never taken.
- ``zero-window-drops-urg``: a URG segment while the window is zero is dropped whole, its
  acknowledgment with it (a receiver that has no buffer for the urgent data it announces).

The decision is pure (configuration, segment, window) so the TCB asks it at one point, before the
first check of 3.10.7.4.
"""

from __future__ import annotations

from typing import Literal

from tcpconform.responder.config import ResponderConfig
from tcpconform.tcp.segment import Flags, Segment

ZeroWindowDrop = Literal["silently", "with-ack"]


def zero_window_drop(cfg: ResponderConfig, seg: Segment, rcv_wnd: int) -> ZeroWindowDrop | None:
    """How a zero-window fault drops ``seg`` (answered with an ACK or not), or ``None``: it is processed
    as RFC 9293 says.  Only a synchronized connection calls this; a SYN is left to the normal checks."""
    if rcv_wnd != 0 or seg.flags & Flags.SYN:
        return None
    if cfg.has("zero-window-drops-all"):
        return "silently" if seg.flags & Flags.RST else "with-ack"
    if cfg.has("zero-window-drops-urg") and seg.flags & Flags.URG and not seg.flags & Flags.RST:
        return "silently"
    return None
