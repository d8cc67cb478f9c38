"""A device that connects out by itself (``tcpconform run --listen``): the target as a client nobody drives.

The tester waits on its own address and a port for the device's SYNs (:class:`~tcpconform.links.listen.ListenLink`)
and runs the client cases (those with ``app: connect``) on the connections that arrive, one after
another.  :class:`DeviceTarget` is that device as a case sees it: its ``connect`` is implied (the
device connects by itself; the case's ``app: connect`` step arms the link and waits up to
``wait`` seconds for the next SYN), and it can do nothing else, so a client case that needs the
application to read or write is skipped with the reason.  Server-side cases run on ``serves``,
the device's listening service (``--port``), when there is one; without it they are skipped
(:class:`Unserved`).

:class:`DevicePeer` is the reference responder as such a device, in this process: it connects to
the tester's listening address, and ``interval`` seconds after each connection is over (closed,
refused, reset, in TIME_WAIT) it connects again from the next ephemeral port, as a device's
application that keeps reconnecting does.  It is the conformant peer of every client case run with
``--listen`` in-process, and the responder's faults are the device's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from tcpconform.links.listen import ListenLink
from tcpconform.results import TargetEvent
from tcpconform.targets.base import Capability, OptionUnsupported, Target
from tcpconform.targets.service import NoAgent
from tcpconform.tcp.icmp import IcmpError
from tcpconform.tcp.segment import FourTuple, Segment
from tcpconform.tcp.states import State

if TYPE_CHECKING:  # the in-process device only: a run against a real one never imports the responder
    from tcpconform.responder import Responder

LISTEN_WAIT = 30.0
"""Seconds a client case waits for the device's SYN by default (``--listen-wait``): a device that
retries a refused or reset connection within a few seconds, as most do, is well inside it."""


@dataclass
class DeviceTarget(NoAgent):
    """The device as the client cases see it (module docstring)."""

    listen: ListenLink
    ip: str
    """The device's address."""
    wait: float = LISTEN_WAIT
    serves: Target | None = None
    """The device's own listening service, for the server-side cases; ``None``: they are skipped."""
    name: str = ""
    capabilities: Capability = Capability.NONE
    implied: frozenset[str] = frozenset({"connect"})
    data_salt: int | None = None

    def __post_init__(self) -> None:
        self.name = self.name or f"the device {self.ip}, connecting to {self.listen.where} by itself"

    def _who(self) -> str:
        return "the device"

    @property
    def port(self) -> int:
        """The port liveness probes and the run's record name: the device's service's, else the tester's listening port."""
        return self.serves.port if self.serves is not None else self.listen.port

    @property
    def alt_ip(self) -> str | None:
        """None: a device that connects by itself is not told which of its addresses to use."""
        return None

    def app_connect(self, key: FourTuple, bind: Literal["address", "port"] = "address", route: tuple[str, ...] = ()) -> None:
        """The device connects by itself: the next SYN to the listening address becomes ``key``'s."""
        if route:
            raise OptionUnsupported("a device that connects by itself cannot be given a source route to connect on")
        if bind != "address":
            raise OptionUnsupported("a device that connects by itself binds as it will: it cannot be told to leave "
                                    "its address to the stack")
        if key.src != self.listen.ip:
            raise OptionUnsupported(f"a device that connects by itself connects to {self.listen.where} only: it cannot "
                                    f"be made to connect to {key.src}")
        self.listen.arm(key)

    def drain_events(self) -> list[tuple[FourTuple, TargetEvent]]:
        return self.serves.drain_events() if self.serves is not None else []

    def forget(self, key: FourTuple) -> None:
        self.listen.release(key)
        if self.serves is not None:
            self.serves.forget(key)

    def restart(self) -> None:
        """The device's service restarted, where it can be (the bundled responder's)."""
        restart = getattr(self.serves, "restart", None)
        if callable(restart):
            restart()


@dataclass
class Unserved(NoAgent):
    """What a server-side case runs on when the device's own service was not named: it is skipped."""

    ip: str
    port: int = 0
    name: str = "no service of the device's (--listen without --port)"
    capabilities: Capability = Capability.NONE
    implied: frozenset[str] = frozenset()
    data_salt: int | None = None
    alt_ip: str | None = None
    reason: str = ("a server-side case: with --listen alone only the client cases (app: connect) run; "
                   "give --port (the device's listening port) for the others")


@dataclass
class DevicePeer:
    """The reference responder as a device that keeps connecting to ``to`` by itself (module docstring)."""

    responder: Responder
    to: tuple[str, int]
    """The tester's listening address and port."""
    interval: float = 0.5
    """Seconds between a connection's end and the next connect."""
    first: float = 0.1
    """When the first connect happens, on the link's clock."""
    ports: range = range(49152, 65536)
    """The ephemeral ports it connects from, in turn (RFC 6335's dynamic range)."""
    _current: FourTuple | None = field(default=None, init=False)
    _next_connect: float | None = field(default=None, init=False)
    _turn: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._next_connect = self.first

    def handle_segment(self, seg: Segment, now: float) -> None:
        self.responder.handle_segment(seg, now)
        self._check(now)

    def handle_icmp(self, message: IcmpError, now: float) -> None:
        self.responder.handle_icmp(message, now)
        self._check(now)

    def segments_to_send(self) -> list[Segment]:
        return self.responder.segments_to_send()

    def get_timer(self) -> float | None:
        timers = [t for t in (self.responder.get_timer(), self._next_connect) if t is not None]
        return min(timers) if timers else None

    def handle_timer(self, now: float) -> None:
        if self._next_connect is not None and self._next_connect <= now:
            self._next_connect = None
            self._connect(now)
        due = self.responder.get_timer()
        if due is not None and due <= now:
            self.responder.handle_timer(now)
        self._check(now)

    def _connect(self, now: float) -> None:
        port = self.ports[self._turn % len(self.ports)]
        self._turn += 1
        key = FourTuple(self.responder.config.ip, port, self.to[0], self.to[1])
        self.responder.forget(key)  # a port coming round again: its old connection is long over
        self.responder.app_connect(key, now)
        self._current = key

    def _check(self, now: float) -> None:
        """Its connection over (CLOSED, or TIME_WAIT: the application closed it): connect again later."""
        key = self._current
        if key is None or self._next_connect is not None:
            return
        if self.responder.state(key) in (State.CLOSED, State.TIME_WAIT):
            self._current = None
            self._next_connect = now + self.interval
