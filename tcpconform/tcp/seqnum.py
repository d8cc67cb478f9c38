"""Modulo-2^32 sequence-number arithmetic (RFC 9293 section 3.4).

Every comparison of sequence or acknowledgment numbers in the project goes through these helpers,
so a connection whose numbers wrap past 2^32 behaves exactly like one that does not.
"""

from __future__ import annotations

MOD = 1 << 32
HALF = 1 << 31
MASK = MOD - 1


def add(a: int, n: int) -> int:
    """``a + n`` on the sequence space."""
    return (a + n) & MASK


def diff(a: int, b: int) -> int:
    """Signed distance ``a - b``, in (-2^31, 2^31]: how far ``a`` is ahead of ``b``."""
    d = (a - b) & MASK
    return d - MOD if d > HALF else d


def lt(a: int, b: int) -> bool:
    """``a`` comes strictly before ``b``."""
    return diff(a, b) < 0


def le(a: int, b: int) -> bool:
    return diff(a, b) <= 0


def gt(a: int, b: int) -> bool:
    return diff(a, b) > 0


def ge(a: int, b: int) -> bool:
    return diff(a, b) >= 0


def between(lo: int, x: int, hi: int) -> bool:
    """``lo <= x <= hi`` on the circle, measured from ``lo``."""
    return ((x - lo) & MASK) <= ((hi - lo) & MASK)


def in_window(x: int, start: int, size: int) -> bool:
    """``start <= x < start + size`` on the circle (an empty window holds nothing)."""
    return size > 0 and ((x - start) & MASK) < size
