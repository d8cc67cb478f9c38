"""Named, switchable misbehaviours of the reference responder.

They exist to prove that test cases can fail: ``tcpconform selftest`` runs every case against the
responder with each fault switched on and checks that the cases naming the fault do fail.  Each
entry is the fault's name and what the responder then does wrong.
"""

from __future__ import annotations

FAULTS: dict[str, str] = {
    "bad-syn-ack": "the SYN-ACK acknowledges the client's ISN + 2 instead of ISN + 1",
    "fixed-isn": "every connection uses ISN 0, whatever ISN is configured",
    "ack-every-segment": "no delayed ACK: every data segment is acknowledged at once",
    "slow-ack": "ACKs are held for 600 ms and never sent early on a second full-sized segment",
    "ack-unreceived": "every ACK acknowledges 100 bytes more than were received",
    "ignore-window": "sends without regard to the peer's advertised window",
    "ignore-mss": "sends segments up to its own MSS (1460), ignoring the MSS the peer offered",
    "fin-without-app": (
        "answers a FIN with its own FIN at once, without waiting for its application (no CLOSE_WAIT)"
    ),
    "no-fin-on-close": "the application's close sends no FIN: the connection stays in CLOSE_WAIT",
    "ignore-fin": "a received FIN is neither acknowledged nor acted on",
    "drop-out-of-order": "segments beyond the next expected byte are dropped instead of buffered",
    "no-retransmit": "unacknowledged data and FINs are never retransmitted",
}


def describe(name: str) -> str:
    """The fault's description; ``KeyError`` with the known names when it does not exist."""
    try:
        return FAULTS[name]
    except KeyError:
        known = ", ".join(sorted(FAULTS))
        raise KeyError(f"unknown fault {name!r} (known: {known})") from None
