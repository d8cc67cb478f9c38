"""The bundled reference responder as a target: in this process over the in-process link, with the
one set of addresses and ports an in-process run uses.

In-process addresses are documentation addresses (TEST-NET-1, RFC 5737; 2001:db8::/32, RFC 3849):
nothing in-process ever reaches a network, and a pcap of it says so.  Each is defined once and named
here: the tester's are the in-process link's own (:mod:`tcpconform.links.inprocess`), the
responder's IPv4 address and port are :class:`~tcpconform.responder.ResponderConfig`'s defaults (the
port is also every lab target's unless the user names another), and its IPv6 address is below.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from tcpconform.links.inprocess import TESTER_IP, TESTER_IP6, InProcessLink, VirtualClock
from tcpconform.responder import (
    AppAction,
    AppConfig,
    ConnectionReset,
    DataReceived,
    Event,
    Responder,
    ResponderConfig,
    ResponderError,
    StateChanged,
    UnsupportedOption,
)
from tcpconform.results import TargetEvent
from tcpconform.targets.base import AppFailed, Capability, Listeners, OptionUnsupported
from tcpconform.tcp.payload import TARGET_SALT
from tcpconform.tcp.segment import FourTuple
from tcpconform.tcp.streamend import ReadEnd

_DEFAULTS = ResponderConfig()
REFERENCE_IP: str = _DEFAULTS.ip
"""192.0.2.2: the reference responder's IPv4 address, in-process."""
REFERENCE_PORT: int = _DEFAULTS.port
"""8000: the reference responder's port, and a lab target's unless the user names another."""
REFERENCE_IP6 = "2001:db8::2"
"""The reference responder's IPv6 address, in-process (the tester's, ``TESTER_IP``/``TESTER_IP6``,
are the in-process link's)."""
REFERENCE_ALT_IP, REFERENCE_ALT_IP6 = "192.0.2.3", "2001:db8::3"
"""The reference responder's second address in each family, in-process: the multihomed host the
cases with ``address: second`` need (RFC 9293 3.9.1.1)."""

__all__ = ["REFERENCE_ALT_IP", "REFERENCE_ALT_IP6", "REFERENCE_IP", "REFERENCE_IP6", "REFERENCE_PORT", "TESTER_IP",
           "TESTER_IP6", "Reference", "ReferenceTarget", "event_connection", "open_reference", "target_event"]


@contextmanager
def _failing(action: str) -> Iterator[None]:
    """What the responder refuses is the target's doing: the step fails."""
    try:
        yield
    except ResponderError as err:
        raise AppFailed(f"the application's {action} failed: {err}") from None


def event_connection(ev: Event) -> FourTuple | None:
    """The connection a responder event belongs to, as the tester sees it; ``None`` for an event of a
    listening socket (the responder reports those under a key whose peer port is 0)."""
    return None if ev.key.dport == 0 else ev.key.reversed()


def target_event(ev: Event) -> TargetEvent:
    """A responder event as the results report it."""
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
    return TargetEvent(ev.at, type(ev).__name__, repr(ev))  # pragma: no cover - every Event is above


@dataclass
class ReferenceTarget:
    """The bundled reference responder, in this process, driven through its application API."""

    responder: Responder
    clock: VirtualClock
    name: str = "reference responder (in-process)"
    capabilities: Capability = Capability.APP | Capability.STATE
    implied: frozenset[str] = frozenset()
    data_salt: int | None = TARGET_SALT
    _listeners: Listeners = field(default_factory=Listeners)
    _listening: set[int] = field(default_factory=set)

    @property
    def ip(self) -> str:
        return self.responder.config.ip

    @property
    def port(self) -> int:
        return self.responder.config.port

    @property
    def alt_ip(self) -> str | None:
        return self.responder.config.alt_ip

    def app_listen(self, key: FourTuple) -> None:
        now = self.clock.tick()
        self._listeners.opened(key)
        if key.dport not in self._listening:
            with _failing("listen"):
                self.responder.app_listen(key.dport, now)
            self._listening.add(key.dport)

    def app_unlisten(self, key: FourTuple) -> None:
        with _failing("unlisten"):
            self.responder.app_unlisten(key.dport, self.clock.tick())
        self._listening.discard(key.dport)

    def app_connect(self, key: FourTuple, bind: Literal["address", "port"] = "address", route: tuple[str, ...] = ()) -> None:
        with _failing("connect"):
            self.responder.app_connect(key.reversed(), self.clock.tick(), bind == "address", route)

    def app_read(self, key: FourTuple, count: int) -> bytes:
        with _failing("read"):
            return self.responder.app_read(key.reversed(), count, self.clock.tick())

    def app_write(self, key: FourTuple, data: bytes, urgent: bool = False) -> None:
        with _failing("write"):
            self.responder.app_write(key.reversed(), data, self.clock.tick(), urgent=urgent)

    def app_read_end(self, key: FourTuple) -> ReadEnd:
        with _failing("read"):
            return self.responder.read_end(key.reversed(), self.clock.tick(), drain=True)

    def app_shutdown(self, key: FourTuple) -> None:
        with _failing("shutdown"):
            self.responder.app_shutdown(key.reversed(), self.clock.tick())

    def app_close(self, key: FourTuple) -> None:
        with _failing("close"):
            self.responder.app_close(key.reversed(), self.clock.tick())

    def app_setsockopt(self, where: FourTuple | int, name: str, value: int) -> None:
        try:
            with _failing(f"setsockopt {name} {value}"):
                self.responder.app_setsockopt(where if isinstance(where, int) else where.reversed(), name, value,
                                              self.clock.tick())
        except UnsupportedOption as err:
            raise OptionUnsupported(str(err)) from None

    def app_getsockopt(self, where: FourTuple | int, name: str) -> int:
        try:
            with _failing(f"getsockopt {name}"):
                return self.responder.app_getsockopt(where if isinstance(where, int) else where.reversed(), name)
        except UnsupportedOption as err:
            raise OptionUnsupported(str(err)) from None

    def state(self, key: FourTuple) -> str | None:
        return str(self.responder.state(key.reversed()))

    def drain_events(self) -> list[tuple[FourTuple, TargetEvent]]:
        out = []
        for ev in self.responder.next_events():
            key = event_connection(ev)
            if key is None:  # the listening socket itself: to the case that opened it
                key = self._listeners.case_of(ev.key.sport, ev.key.reversed())
            out.append((key, target_event(ev)))
        return out

    def forget(self, key: FourTuple) -> None:
        self.responder.forget(key.reversed())

    def restart(self) -> None:
        """A fresh responder: nothing listens, no connection is left, a wedge is gone."""
        self.responder.reset(self.clock.tick())
        self._listening.clear()
        self._listeners = Listeners()


@dataclass
class Reference:
    """The bundled reference responder in this process, with its link and target control."""

    link: InProcessLink
    target: ReferenceTarget
    faults: frozenset[str] = field(default_factory=frozenset)


def open_reference(faults: Sequence[str] = (), port: int = REFERENCE_PORT, *, ipv6: bool = False,
                   isn: int | None = None, services: Sequence[tuple[str, int]] = ()) -> Reference:
    """The default target: the reference responder, its application driven by the cases; over IPv6
    with ``ipv6``.  ``isn`` pins every connection's ISN (default: RFC 6528's, which moves with the clock).
    ``services`` (name, port) makes it serve those classic services instead, on their own, and
    offer an Ethernet-sized MSS (as a host serving them does), so an echo takes a write in one segment.
    """
    clock = VirtualClock()
    app = AppConfig(mode="services", services=tuple(services)) if services else AppConfig(mode="agent")
    responder = Responder(ResponderConfig(ip=REFERENCE_IP6 if ipv6 else REFERENCE_IP, port=port,
                                          alt_ip=REFERENCE_ALT_IP6 if ipv6 else REFERENCE_ALT_IP,
                                          app=app, faults=frozenset(faults), isn=isn,
                                          mss_option=(1440 if ipv6 else 1460) if services else None))
    link = InProcessLink(responder, clock, local_ip=TESTER_IP6 if ipv6 else TESTER_IP)
    return Reference(link, ReferenceTarget(responder, clock), frozenset(faults))
