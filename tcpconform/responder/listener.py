"""How many connections a listening port holds half open (RFC 9293 3.9.1.1, MUST-42).

A listening port keeps listening while connections on it are in SYN-RECEIVED: each SYN from a new
4-tuple makes a connection of its own, up to the configured backlog (a defence against SYN floods,
which RFC 9293 leaves to the implementation).  The fault ``one-syn-rcvd`` copies the small stacks
whose listener is a single control block: one pending connection, every further SYN dropped until it
completes.
"""

from __future__ import annotations

ONE_PENDING = 1
"""The backlog of a single-block listener (the fault ``one-syn-rcvd``)."""


def half_open_limit(backlog: int, faults: frozenset[str]) -> int:
    """Connections in SYN-RECEIVED a listening port holds at most."""
    return ONE_PENDING if "one-syn-rcvd" in faults else backlog
