"""The one tolerance rule for every time bound a case states, and the edges it gives.

Rule: a bound of ``interval`` seconds is judged with a tolerance of ``max(4 ms, 12.5 % of interval)``
(packetdrill's ``--tolerance_usecs`` and ``--tolerance_percent``), whatever the bound is: an expect's
``within`` (an upper bound: the segment may come up to the tolerance late), a silence's length (a
lower bound: a segment up to the tolerance before the window's end does not break it), the ISN
sample's answer bound, and the tester's own polls of state and application reads.  Timers on real
stacks have a granularity (jiffies, a 10 ms tick, a 500 ms slow timer in BSD's heritage), and a
kernel timestamp is taken a little after the wire: a bound the RFC states is met by a stack within
that slack, and no case may demand more precision than the rule gives.

Every handler computes its edges through :func:`latest` and :func:`earliest`, and explains a late
segment with :func:`explain_until` (listening a tolerance beyond the edge, to say that it came and
when, never to pass it).
"""

from __future__ import annotations

TOLERANCE_FLOOR = 0.004
"""The least tolerance, in seconds: a timer's tick and a timestamp's lag, however short the bound."""
TOLERANCE_FRACTION = 0.125
"""The tolerance as a fraction of the bound: a timer scaled with the interval (backoff) drifts with it."""


def tolerance(interval: float) -> float:
    """The slack on a bound of ``interval`` seconds: ``max(4 ms, 12.5 % of interval)``."""
    return max(TOLERANCE_FLOOR, TOLERANCE_FRACTION * max(0.0, interval))


def latest(start: float, interval: float) -> float:
    """The last instant an event bound to come within ``interval`` of ``start`` may come."""
    return start + interval + tolerance(interval)


def earliest(start: float, interval: float) -> float:
    """The first instant an event bound not to come before ``interval`` after ``start`` may come."""
    return max(start, start + interval - tolerance(interval))


def explain_until(start: float, interval: float) -> float:
    """How long to go on listening after :func:`latest` has passed, only to say what came late."""
    return latest(start, interval) + tolerance(interval)


def ms(seconds: float) -> str:
    """A duration as a failure message writes it."""
    if abs(seconds) < 0.01:
        return f"{seconds * 1000:.1f} ms"  # a sub-millisecond gap reads as such, not as "0 ms"
    return f"{seconds * 1000:.0f} ms" if abs(seconds) < 10 else f"{seconds:.1f} s"
