"""A remote service with no agent: a target whose application acts on its own, as its service defines.

Each service is one :class:`ServiceModel`: when it writes, what it writes (and what of that can be
checked), when it closes.  The engine reads the model to accept what the service legitimately does
by itself (its data, its FIN) where a case written for a driven application expects something else,
and a case declares in ``needs`` what it needs of the application (``writes``, ``closes-first``,
``keeps-open``): a service whose model lacks it skips the case, with the reason.

Some of a case's application steps a service plays by itself (``implied``): every service listens;
an echo reads, and it writes ``N`` bytes when the tester sends it ``N`` bytes (the engine does, so
an ``app write`` needs no agent while the tester can still send); daytime's close is its own FIN
after its line.  An echo keeps a connection in CLOSE_WAIT while it holds bytes it cannot send back:
RFC 9293 3.10.4 queues a CLOSE in CLOSE-WAIT "until all preceding SENDs have been segmentized", so
with the tester's window closed (the engine keeps it so for a case that needs ``keeps-open``) the
FIN waits, whether the application closed or not; the case's ``app close`` opens the window.
A host may run several services, one port each (:class:`ServiceSet`): each case runs on the
quietest one that gives it what it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from tcpconform.results import TargetEvent
from tcpconform.targets.base import Capability, TargetError
from tcpconform.tcp.payload import TESTER_SALT
from tcpconform.tcp.segment import FourTuple
from tcpconform.tcp.streamend import ReadEnd

Check = Callable[[int, bytes], str | None]
"""A check of the service's own bytes: (stream offset, bytes) -> what is wrong, or ``None``."""


def _chargen(offset: int, data: bytes) -> str | None:
    """RFC 864: printable ASCII (32..126) in lines ended by CR LF; the rotation pattern is a
    suggestion of the RFC, not a requirement, so only the alphabet is checked."""
    bad = [b for b in data if not (32 <= b <= 126 or b in (13, 10))]
    return f"byte {bad[0]:#04x} is not printable ASCII, CR or LF (RFC 864)" if bad else None


def _daytime(offset: int, data: bytes) -> str | None:
    """RFC 867: one line of ASCII (its format is free); CR LF, where it comes, ends it."""
    if any(b > 126 or (b < 32 and b not in (13, 10, 9)) for b in data):
        return "not an ASCII line (RFC 867)"
    end = data.find(b"\n")
    if end != -1 and end != len(data) - 1:
        return "more than one line (RFC 867: one line, then close)"
    return None


@dataclass(frozen=True)
class ServiceModel:
    """What a service does by itself on a connection the tester opened."""

    name: str
    rfc: str
    writes: Literal["echo", "own", "never"]
    """``echo``: sends back what it reads (the tester's own stream, checked byte by byte); ``own``:
    writes bytes of its own from the start (checked by ``check``); ``never``: writes nothing."""
    closes: Literal["after-peer-fin", "first", "never"]
    """``after-peer-fin``: closes once the peer's FIN came (an echo once it has echoed everything);
    ``first``: closes by itself, after what it writes; ``never``: only when its writing fails (it
    never reads, so it never sees the peer's FIN: chargen as BSD's inetd serves it)."""
    check: Check | None = None
    behaviours: Capability = Capability.READS
    """The application behaviours (``needs``) the service gives a case."""
    implied: frozenset[str] = field(default_factory=lambda: frozenset({"listen", "read", "close-after-fin"}))
    """The ``app`` steps it performs by itself; ``close-after-fin``: its close, once the tester's
    FIN was sent (an ``app close`` after it needs no agent)."""


MODELS: dict[str, ServiceModel] = {m.name: m for m in (
    ServiceModel("discard", "RFC 863", writes="never", closes="after-peer-fin"),
    ServiceModel("echo", "RFC 862", writes="echo", closes="after-peer-fin",
                 behaviours=Capability.READS | Capability.KEEPS_OPEN,  # while it holds bytes it cannot send back
                 implied=frozenset({"listen", "read", "write", "close-after-fin"})),
    ServiceModel("chargen", "RFC 864", writes="own", closes="never", check=_chargen, implied=frozenset({"listen"}),
                 behaviours=Capability.READS | Capability.WRITES | Capability.KEEPS_OPEN),
    ServiceModel("daytime", "RFC 867", writes="own", closes="first", check=_daytime,
                 behaviours=Capability.WRITES | Capability.CLOSES_FIRST,  # no READS: it closes unread
                 implied=frozenset({"listen", "shutdown", "close"})),
)}

SERVICES = tuple(MODELS)
"""The services a remote target may run (``--service``), quietest first: the order in which a
:class:`ServiceSet` offers them to a case."""
STANDARD_PORTS = {"echo": 7, "discard": 9, "daytime": 13, "chargen": 19}
"""Each service's well-known port (RFC 862, 863, 867, 864)."""


def parse_service(text: str, port: int | None) -> tuple[str, int]:
    """``NAME`` or ``NAME=PORT`` (as ``--service`` takes it) -> (name, port); a bare name takes
    ``port``, or else its well-known port.  ``ValueError`` says what is wrong."""
    name, sep, number = text.partition("=")
    name = name.strip()
    if name not in MODELS:
        raise ValueError(f"unknown service {name!r} (known: {', '.join(SERVICES)})")
    if not sep:
        return name, STANDARD_PORTS[name] if port is None else port
    try:
        value = int(number)
    except ValueError:
        raise ValueError(f"--service {text}: {number!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise ValueError(f"--service {text}: port {value} is not in 1..65535")
    return name, value


class NoAgent:
    """The control of a target without an agent: no application calls, no state, no events."""

    def _who(self) -> str:
        """The target as its errors name it (``the echo service``)."""
        return "the target"

    def _no_agent(self, action: str) -> TargetError:
        return TargetError(f"{self._who()} has no agent to {action}")

    def app_listen(self, key: FourTuple) -> None:
        raise self._no_agent("listen")

    def app_unlisten(self, key: FourTuple) -> None:
        raise self._no_agent("close its listening socket")

    def app_connect(self, key: FourTuple, bind: Literal["address", "port"] = "address", route: tuple[str, ...] = ()) -> None:
        raise self._no_agent("connect")

    def app_read(self, key: FourTuple, count: int) -> bytes:
        raise self._no_agent("read")

    def app_write(self, key: FourTuple, data: bytes, urgent: bool = False) -> None:
        raise self._no_agent("write")

    def app_read_end(self, key: FourTuple) -> ReadEnd:
        raise self._no_agent("read")

    def app_shutdown(self, key: FourTuple) -> None:
        raise self._no_agent("shutdown")

    def app_close(self, key: FourTuple) -> None:
        raise self._no_agent("close")

    def app_setsockopt(self, where: FourTuple | int, name: str, value: int) -> None:
        raise self._no_agent(f"set {name}")

    def app_getsockopt(self, where: FourTuple | int, name: str) -> int:
        raise self._no_agent(f"read {name}")

    def state(self, key: FourTuple) -> str | None:
        return None

    def drain_events(self) -> list[tuple[FourTuple, TargetEvent]]:
        return []

    def forget(self, key: FourTuple) -> None:
        pass


@dataclass
class ServiceTarget(NoAgent):
    """A remote service with no agent: its application acts on its own, as its :class:`ServiceModel`
    says.  Cases needing more (``app: write 700``, ``needs: [keeps-open]``) are skipped with the reason.
    """

    service: str
    ip: str
    port: int
    name: str = ""
    capabilities: Capability = Capability.NONE
    implied: frozenset[str] = frozenset()
    data_salt: int | None = None
    alt_ip: str | None = None
    """An echo's data is the tester's own, sent back; the other services' is not a tester stream."""

    def __post_init__(self) -> None:
        self.name = self.name or f"{self.service} service on port {self.port}"
        self.capabilities = self.model.behaviours
        self.implied = self.model.implied
        self.data_salt = TESTER_SALT if self.model.writes == "echo" else None

    @property
    def model(self) -> ServiceModel:
        return MODELS[self.service]

    def _who(self) -> str:
        return f"the {self.service} service"


@dataclass
class ServiceSet(NoAgent):
    """Several services on one host, one port each.  As a target it is the first service (its
    address, its port for liveness probes); :meth:`fitting` gives each case its own."""

    services: tuple[ServiceTarget, ...]
    name: str = ""
    capabilities: Capability = Capability.NONE
    implied: frozenset[str] = frozenset()
    data_salt: int | None = None
    alt_ip: str | None = None

    def __post_init__(self) -> None:
        if not self.services:
            raise ValueError("a service set needs at least one service")
        ports = [s.port for s in self.services]
        if len(set(ports)) != len(ports):
            raise ValueError(f"two services on one port: {ports}")
        self.name = self.name or ", ".join(s.name for s in self.services)

    def _who(self) -> str:
        return "a service set"

    @property
    def ip(self) -> str:
        return self.services[0].ip

    @property
    def port(self) -> int:
        return self.services[0].port

    @property
    def ports(self) -> frozenset[int]:
        return frozenset(s.port for s in self.services)

    def fitting(self, missing: Callable[[ServiceTarget], Capability]) -> ServiceTarget:
        """The quietest service (in :data:`SERVICES` order) that lacks nothing ``missing`` asks of
        it; when none fits, the one lacking least (the case is skipped on it, with its reason)."""
        ranked = sorted(self.services, key=lambda s: SERVICES.index(s.service))
        return min(ranked, key=lambda s: bin(missing(s).value).count("1"))
