"""The scripted application of the seed cases: read a request, write a reply, close.

It is the server's *application*, not TCP: it only uses what a socket user could (read what has
arrived, write, close), so everything it does goes through the same calls the engine makes in agent
mode.  Closing waits for the timer even with ``close_delay == 0``: the engine then sees the ACK of
the peer's FIN, and CLOSE_WAIT, before the application's FIN and LAST_ACK: RFC 9293 3.6's passive
close, one state at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from tcpconform.responder.config import AppConfig
from tcpconform.responder.connection import Connection
from tcpconform.responder.events import AppAction, Event
from tcpconform.tcp.payload import TARGET_SALT, stream_bytes


@dataclass(slots=True)
class TimedClose:
    """An application that closes from its timer once it has decided to (``close_at``), so the
    engine sees the ACK of the peer's FIN, and CLOSE_WAIT, before the application's FIN."""

    close_at: float | None = None
    closed: bool = False

    def deadline(self) -> float | None:
        return None if self.closed else self.close_at

    def on_timer(self, conn: Connection, now: float, events: list[Event]) -> None:
        if self.closed or self.close_at is None or now < self.close_at:
            return
        self.closed = True
        if conn.alive:
            events.append(AppAction(conn.key, "close", 0, now))
            conn.app_close(now)


@dataclass(slots=True)
class ScriptedSession(TimedClose):
    """The scripted application's progress on one connection."""

    replied: bool = False
    """The request was read and the reply written (or the request can no longer come)."""

    def step(self, conn: Connection, app: AppConfig, now: float, events: list[Event]) -> None:
        """Do whatever the application can do now: read and reply, then schedule its close."""
        if self.closed or not conn.alive or not conn.state.synchronized:
            return
        if not self.replied and not conn.app_shut:
            if conn.rcv.unread >= app.read_bytes:
                if app.read_bytes:
                    conn.app_read(app.read_bytes, now)
                    events.append(AppAction(conn.key, "read", app.read_bytes, now))
                if app.reply_bytes and conn.can_write:
                    conn.app_write(stream_bytes(0, app.reply_bytes, TARGET_SALT), now)
                    events.append(AppAction(conn.key, "write", app.reply_bytes, now))
                self.replied = True
            elif conn.peer_fin_received:
                # End of file before a whole request: read what there is, reply nothing.
                got = len(conn.app_read(conn.rcv.unread, now))
                events.append(AppAction(conn.key, "read", got, now))
                self.replied = True
        if self.close_at is None and self.replied and self._should_close(conn, app):
            self.close_at = now + app.close_delay

    @staticmethod
    def _should_close(conn: Connection, app: AppConfig) -> bool:
        if app.close == "after-fin":
            return conn.peer_fin_received
        return app.close == "after-reply"  # "never" never closes
