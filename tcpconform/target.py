"""Target control: the side channel to the target's application and TCP state.

The link carries segments; this carries everything else a case may ask of the target: play its
application (listen, read, write, shutdown, close) and report its TCP state.  What a target can do
is declared in ``capabilities``; a case that needs more is skipped with the reason, never passed.
Keys are always the connection as the tester sees it (tester address first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .results import TargetEvent
from .segment import FourTuple


class TargetError(Exception):
    """The target control could not do what was asked (not a conformance verdict)."""


class Target(Protocol):
    name: str
    ip: str
    port: int
    capabilities: frozenset[str]
    """Subset of {"app", "state"}."""

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

    responder: object  # tcpconform.responder.Responder; typed loosely to keep imports light
    clock: object  # anything with now()
    name: str = "reference responder (in-process)"
    capabilities: frozenset[str] = frozenset({"app", "state"})
    _listening: set[int] = field(default_factory=set)

    @property
    def ip(self) -> str:
        return self.responder.config.ip  # type: ignore[attr-defined, no-any-return]

    @property
    def port(self) -> int:
        return self.responder.config.port  # type: ignore[attr-defined, no-any-return]

    def app(self, key: FourTuple, action: str, data: bytes | None = None, count: int | None = None) -> bytes:
        r = self.responder
        now = self.clock.now()  # type: ignore[attr-defined]
        own = key.reversed()
        if action == "listen":
            if key.dport not in self._listening:
                r.app_listen(key.dport, now)  # type: ignore[attr-defined]
                self._listening.add(key.dport)
            return b""
        if action == "read":
            return r.app_read(own, count or 0, now)  # type: ignore[attr-defined, no-any-return]
        if action == "write":
            r.app_write(own, data or b"", now)  # type: ignore[attr-defined]
            return b""
        if action == "shutdown":
            r.app_shutdown(own, now)  # type: ignore[attr-defined]
            return b""
        if action == "close":
            r.app_close(own, now)  # type: ignore[attr-defined]
            return b""
        raise TargetError(f"unknown application action {action!r}")

    def state(self, key: FourTuple) -> str | None:
        return str(self.responder.state(key.reversed()).value)  # type: ignore[attr-defined]

    def drain_events(self) -> list[tuple[FourTuple, TargetEvent]]:
        out = []
        for ev in self.responder.next_events():  # type: ignore[attr-defined]
            old = getattr(ev, "old", None)
            new = getattr(ev, "new", None)
            if old is not None and new is not None:
                detail = f"{old.value} -> {new.value}"
                cause = getattr(ev, "cause", "")
                if cause:
                    detail += f" ({cause})"
                out.append((ev.key.reversed(), TargetEvent(ev.at, "state", detail, old.value, new.value)))
            else:
                out.append((ev.key.reversed(), TargetEvent(ev.at, type(ev).__name__, _describe(ev))))
        return out

    def forget(self, key: FourTuple) -> None:
        forget = getattr(self.responder, "forget", None)
        if forget is not None:
            forget(key.reversed())


def _describe(ev: object) -> str:
    fields = getattr(ev, "__dataclass_fields__", {})
    return ", ".join(f"{k}={getattr(ev, k)}" for k in fields if k not in ("key", "at"))
