"""When the reference responder gives up on what its peer never acknowledges (RFC 9293 3.8.3),
and when it drops a connection behind a zero window (3.8.6.1).

R2, the time after which retransmission stops and the connection is closed (MUST-20), is measured
from when the head of the retransmission queue was first sent (or last restarted by an ACK), as
Linux measures it, not counted in retransmissions: a count says nothing of time once the timeout
backs off.  It is 120 s for data (SHLD-11: at least 100 s) and 200 s for a SYN in SYN_SENT
(MUST-23: at least 3 minutes), and the application's TCP_USER_TIMEOUT replaces both (MUST-21).
The retransmission timer never runs past R2 (Linux clamps its RTO to the user timeout the same way),
so the connection ends at R2, not at the next timeout after it.  Giving up sends nothing: Linux
sends no RST either, and RFC 9293 only says "close the connection".

A zero window is probed for as long as the peer answers (MUST-37), whatever the count.
"""

from __future__ import annotations

from tcpconform.responder.sockopts import SocketOptions
from tcpconform.tcp.states import State

R2_DATA = 120.0
"""Seconds of unacknowledged data before the connection is closed (SHLD-11 asks at least 100)."""
R2_SYN = 200.0
"""Seconds of unanswered SYN in SYN_SENT before the connect fails (MUST-23 asks at least 180)."""
EARLY_R2_DATA = 30.0
"""R2 of the fault ``gives-up-early``: a small stack's 30 s."""
EARLY_R2_SYN = 120.0
"""R2 of a SYN under ``syn-gives-up-early``: about Linux's default (tcp_syn_retries 6, 127 s), and more
than FreeBSD's 75 s connection-establishment timer; both below MUST-23's 3 minutes."""
PERSIST_PROBES_KILL = 6
"""Zero-window probes after which ``persist-gives-up`` drops the connection, answered or not."""


def r2(state: State, options: SocketOptions, faults: frozenset[str]) -> float | None:
    """Seconds of retransmission before giving up in ``state``; ``None``: never."""
    syn = state is State.SYN_SENT
    if "syn-never-gives-up" in faults if syn else "never-gives-up" in faults:
        return None
    if options.user_timeout is not None and "user-timeout-ignored" not in faults:
        return options.user_timeout
    if syn:
        return EARLY_R2_SYN if "syn-gives-up-early" in faults else R2_SYN
    return EARLY_R2_DATA if "gives-up-early" in faults else R2_DATA


def retransmission_at(due: float, since: float, limit: float | None) -> float:
    """When the retransmission timer next fires: at ``due``, but never past R2 (``since + limit``)."""
    return due if limit is None else min(due, since + limit)


def gives_up(now: float, since: float, limit: float | None) -> bool:
    """Whether R2 has passed: retransmission stops and the connection is closed (MUST-20)."""
    return limit is not None and now - since >= limit - 1e-9


def persist_gives_up(probes: int, faults: frozenset[str]) -> bool:
    """Whether ``probes`` zero-window probes end the connection: only under ``persist-gives-up`` (lwIP 2.1
    counts its persist probes against TCP_MAXRTX and drops the connection even while they are answered)."""
    return "persist-gives-up" in faults and probes >= PERSIST_PROBES_KILL
