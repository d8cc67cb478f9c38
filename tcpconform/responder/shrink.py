"""A peer that shrinks its window (RFC 9293 3.8.6): what the sender may still send, and the faults.

RFC 9293 3.8.6 lets a receiver move its right edge left (SHLD-14 only discourages it), so a sender
must be robust to it (MUST-34): it sends no new data beyond the new right edge (SHLD-15), keeps
retransmitting the unacknowledged data inside it (SHLD-16), and does not give up on the data beyond
it (SHLD-17).  The usable window SND.UNA + SND.WND - SND.NXT is then negative, which is where the
two faults decided here come from:

- ``send-beyond-shrunk-window``: the usable window computed in unsigned arithmetic wraps to a huge
  number, so all queued data goes out at once (the embedded stacks' ``u16_t`` subtraction);
- ``shrink-crash``: a right edge that moved left is taken for a corrupt peer and the connection is
  aborted with a RST (a sanity check that holds SND.UNA + SND.WND to never decrease).

The reference behaviour is the plain signed computation: nothing to send while it is at most zero.

The receiving side's counterpart (SHLD-14): a receiver does not shrink the window it offers.  The
responder's window is its free buffer, but never less than what keeps the edge it advertised; the
fault ``shrink-own-window`` charges the bytes held out of order to the window and keeps no promise,
so an out-of-order segment pulls the right edge back (a stack that takes them from the same buffer).
"""

from __future__ import annotations

from tcpconform.tcp import seqnum


def usable_window(snd_wnd: int, in_flight: int, queued: int, faults: frozenset[str]) -> int:
    """How many new octets the window lets go: SND.WND less what is in flight, negative after a shrink."""
    usable = snd_wnd - in_flight
    if usable < 0 and "send-beyond-shrunk-window" in faults:
        return queued  # the subtraction wrapped: everything queued seems to fit
    return usable


def shrink_aborts(old_edge: int, new_edge: int, faults: frozenset[str]) -> bool:
    """Whether a window update moving the peer's right edge from ``old_edge`` to ``new_edge`` aborts
    the connection: only under ``shrink-crash``, and only when the edge moved left."""
    return "shrink-crash" in faults and seqnum.lt(new_edge, old_edge)


def receive_window(free: int, held: int, promised: int, faults: frozenset[str]) -> int:
    """RCV.WND before the scale's cap: the free buffer, never pulling back the edge already advertised
    (``promised`` octets from RCV.NXT); under ``shrink-own-window`` the free buffer less what is held
    out of order, promise or not."""
    if "shrink-own-window" in faults:
        return max(0, free - held)
    return max(free, promised, 0)
