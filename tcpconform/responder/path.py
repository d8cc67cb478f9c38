"""What a connection of the reference responder knows of its path: the path MTU and a quenched window.

Kept apart from the connection's TCB so the ICMP rules (:mod:`tcpconform.responder.icmp`) and the
sending code meet in one small object: the connection asks it how large a segment may be and how
much may be in flight; the ICMP handling tells it what the path said.
"""

from __future__ import annotations

from dataclasses import dataclass

from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags


@dataclass(slots=True)
class PathState:
    """A connection's path, as ICMP errors about it told it.

    ``mss``: the largest payload the path carries (RFC 1191 / RFC 8201: the path MTU less the
    headers), ``None`` until a packet-too-big lowered it; it only ever goes down (the reference never
    probes upwards, which RFC 8201 leaves a MAY).  ``window``: the congestion window a source quench
    left under the fault ``source-quench-slows`` (BSD's reaction until RFC 6633: one segment, then
    slow start); ``None``, the reference's own state, limits nothing beyond the connection's own
    congestion window (:mod:`.congestion`).
    """

    mss: int | None = None
    window: int | None = None

    def limit(self, usable: int, in_flight: int) -> int:
        """What may be sent of ``usable`` bytes the peer's window allows, ``in_flight`` being unacknowledged."""
        return usable if self.window is None else min(usable, self.window - in_flight)

    def acked(self, mss: int) -> None:
        """An ACK advanced SND.UNA: a quenched window opens by one segment (slow start)."""
        if self.window is not None:
            self.window += mss


def cut(seq: int, flags: Flags, payload: bytes, mss: int) -> list[tuple[int, Flags, bytes]]:
    """A segment of the retransmission queue as (seq, flags, payload), cut into pieces of at most ``mss``
    bytes: itself when it fits; else each piece at its own sequence number, the PSH and FIN on the last
    only (the SYN is never cut: it carries no data here)."""
    if len(payload) <= mss:
        return [(seq, flags, payload)]
    body = flags & ~(Flags.PSH | Flags.FIN)
    return [(seqnum.add(seq, at), flags if at + mss >= len(payload) else body, payload[at:at + mss])
            for at in range(0, len(payload), mss)]
