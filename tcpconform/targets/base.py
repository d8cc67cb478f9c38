"""Target control: the side channel to the target's application and TCP state.

The link carries segments; this carries everything else a case may ask of the target: play its
application (listen, read, write, shutdown, close) and report its TCP state.  What a target can do
is declared in ``capabilities``; a case that needs more is skipped with the reason, never passed.
Keys are always the connection as the tester sees it (tester address first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from tcpconform.results import TargetEvent
from tcpconform.tcp.segment import FourTuple

if TYPE_CHECKING:
    from tcpconform.links.inprocess import VirtualClock
    from tcpconform.responder import Event, Responder


class TargetError(Exception):
    """The target control itself failed (unreachable agent, bad request): an error, not a verdict."""


class AppFailed(TargetError):
    """The target's application call failed on the target (no such connection, connection reset):
    something the target did, so the step fails rather than errors."""


class Target(Protocol):
    name: str
    capabilities: frozenset[str]
    """Subset of {"app", "state"}."""

    @property
    def ip(self) -> str: ...

    @property
    def port(self) -> int: ...

    def app(self, key: FourTuple, action: str, data: bytes | None = None, count: int | None = None) -> bytes:
        """Perform an application action; ``read`` returns the bytes read (possibly fewer)."""
        ...

    def state(self, key: FourTuple) -> str | None:
        """The TCP state of the connection, or ``None`` when the target cannot tell."""
        ...

    def drain_events(self) -> list[tuple[FourTuple, TargetEvent]]:
        """Events the target reported since the last call (state changes...), with their connection."""
        ...

    def forget(self, key: FourTuple) -> None:
        """Drop whatever is left of the connection once its case is over."""
        ...


@dataclass
class ReferenceTarget:
    """The bundled reference responder, in this process, driven through its application API."""

    responder: Responder
    clock: VirtualClock
    name: str = "reference responder (in-process)"
    capabilities: frozenset[str] = frozenset({"app", "state"})
    _listening: set[int] = field(default_factory=set)
    _listener_case: dict[int, FourTuple] = field(default_factory=dict)
    """Per listening port, the case that opened it: a listener's own events are reported to it."""

    @property
    def ip(self) -> str:
        return self.responder.config.ip

    @property
    def port(self) -> int:
        return self.responder.config.port

    def app(self, key: FourTuple, action: str, data: bytes | None = None, count: int | None = None) -> bytes:
        from tcpconform.responder import ResponderError

        r, now, own = self.responder, self.clock.tick(), key.reversed()
        try:
            if action == "listen":
                self._listener_case[key.dport] = key
                if key.dport not in self._listening:
                    r.app_listen(key.dport, now)
                    self._listening.add(key.dport)
            elif action == "read":
                return r.app_read(own, count or 0, now)
            elif action == "write":
                r.app_write(own, data or b"", now)
            elif action == "shutdown":
                r.app_shutdown(own, now)
            elif action == "close":
                r.app_close(own, now)
            else:
                raise TargetError(f"unknown application action {action!r}")
        except ResponderError as err:
            raise AppFailed(f"the application's {action} failed: {err}") from None
        return b""

    def state(self, key: FourTuple) -> str | None:
        return str(self.responder.state(key.reversed()))

    def drain_events(self) -> list[tuple[FourTuple, TargetEvent]]:
        out = []
        for ev in self.responder.next_events():
            key = ev.key.reversed()
            if ev.key.dport == 0:  # the listening socket itself, not a connection
                key = self._listener_case.get(ev.key.sport, key)
            out.append((key, target_event(ev)))
        return out

    def forget(self, key: FourTuple) -> None:
        self.responder.forget(key.reversed())


def target_event(ev: Event) -> TargetEvent:
    from tcpconform.responder import AppAction, ConnectionReset, DataReceived, StateChanged

    if isinstance(ev, StateChanged):
        detail = f"{ev.old} -> {ev.new}" + (f" ({ev.cause})" if ev.cause else "")
        return TargetEvent(ev.at, "state", detail, str(ev.old), str(ev.new))
    if isinstance(ev, DataReceived):
        return TargetEvent(ev.at, "data", f"{ev.nbytes} bytes delivered in order to the application's buffer")
    if isinstance(ev, ConnectionReset):
        return TargetEvent(ev.at, "reset", "connection reset by the peer")
    if isinstance(ev, AppAction):
        count = f" {ev.nbytes} bytes" if ev.action in ("read", "write") else ""
        return TargetEvent(ev.at, "app", f"application {ev.action}{count}")
    return TargetEvent(ev.at, type(ev).__name__, repr(ev))
