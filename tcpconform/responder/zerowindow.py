"""What the reference responder does with segments arriving while its receive window is zero, when it
reopens the window, and the faults that copy how real stacks get either wrong.

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

Reopening (3.8.6.2.2, MUST-39, receiver silly-window avoidance): the right edge RCV.NXT + RCV.WND
stays where it is until the application's reads could move it by ``min(RCV.BUFF / 2, MSS)``; only
then does a read draw a window update (:func:`announces_reopening`).  Fault ``sws-receiver``: every
read that frees space is announced at once, so a reader taking 100 octets at a time from a full
buffer has its peer fill 100-octet windows (the silly window of RFC 813).

Each decision is pure (configuration, segment, windows) so the TCB asks it at one point: before the
first check of 3.10.7.4, and after an application read.
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


def announces_reopening(cfg: ResponderConfig, before: int, after: int, threshold: int) -> bool:
    """Whether a read that moved RCV.WND from ``before`` to ``after`` is announced with a window update: when the
    window crossed ``threshold`` (min(RCV.BUFF / 2, MSS)) from below; under ``sws-receiver`` whenever it grew."""
    return before < threshold <= after or (cfg.has("sws-receiver") and after > before)
