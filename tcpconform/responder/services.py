"""The classic services as the responder's application: echo (RFC 862), discard (RFC 863),
chargen (RFC 864) and daytime (RFC 867), one port each.

Each does what :mod:`tcpconform.targets.service` models, no more: it is the conformant peer every
case written for a service must pass against, in this process and on the wire, and what a fault is
shown against.  Like the scripted application it only uses what a socket user could (read, write,
close), and a close waits for the timer, so the ACK of the peer's FIN goes out first.

- echo: writes back what it reads; closes once the peer's FIN came and it read everything;
- discard: reads and drops; closes after the peer's FIN;
- chargen: never reads; keeps :data:`CHARGEN_QUEUE` bytes of RFC 864's rotating lines queued, for
  as long as it can write (it never closes: it never sees the peer's FIN);
- daytime: writes one line and closes at once, without reading.
"""

from __future__ import annotations

from dataclasses import dataclass

from tcpconform.responder.app import TimedClose
from tcpconform.responder.config import AppConfig
from tcpconform.responder.connection import Connection
from tcpconform.responder.events import AppAction, Event

CHARGEN_QUEUE = 4096
"""Bytes chargen keeps queued (written, not yet sent): a socket buffer's worth, never more."""
DAYTIME_LINE = b"Tuesday, December 1, 2026 09:00:00-UTC\r\n"
"""What daytime says: the responder reads no clock, so its time is a fixed one (RFC 867 leaves the
form free)."""
SERVICE_NAMES = ("echo", "discard", "chargen", "daytime")


def chargen_bytes(offset: int, n: int) -> bytes:
    """``n`` bytes of RFC 864's pattern from stream ``offset``: lines of 72 printable characters,
    each starting one further along the 95 printable ASCII characters, ended by CR LF."""
    out = bytearray()
    for at in range(offset, offset + n):
        line, col = divmod(at, 74)
        out.append(13 if col == 72 else 10 if col == 73 else 32 + (line + col) % 95)
    return bytes(out)


@dataclass(slots=True, kw_only=True)
class ServiceSession(TimedClose):
    """One service's progress on one connection."""

    service: str
    written: int = 0

    def __post_init__(self) -> None:
        if self.service not in SERVICE_NAMES:
            raise ValueError(f"unknown service {self.service!r} (known: {', '.join(SERVICE_NAMES)})")

    def step(self, conn: Connection, app: AppConfig, now: float, events: list[Event]) -> None:
        """Do whatever the service can do now (``app`` says which service is on which port; the
        session knows its own already)."""
        if self.closed or not conn.alive or not conn.state.synchronized:
            return
        match self.service:
            case "echo" | "discard":
                if conn.rcv.unread:
                    data = conn.app_read(conn.rcv.unread, now)
                    events.append(AppAction(conn.key, "read", len(data), now))
                    if self.service == "echo" and conn.can_write:
                        self._write(conn, data, now, events)
                if conn.peer_fin_received and not conn.rcv.unread:
                    self._close(now)
            case "chargen":
                room = CHARGEN_QUEUE - len(conn.send_queue)
                if room > 0 and conn.can_write:
                    self._write(conn, chargen_bytes(self.written, room), now, events)
            case "daytime":
                if not self.written and conn.can_write:
                    self._write(conn, DAYTIME_LINE, now, events)
                self._close(now)

    def _write(self, conn: Connection, data: bytes, now: float, events: list[Event]) -> None:
        conn.app_write(data, now)
        self.written += len(data)
        events.append(AppAction(conn.key, "write", len(data), now))

    def _close(self, now: float) -> None:
        if self.close_at is None:
            self.close_at = now
