"""Target control: the side channel to the target's application and TCP state.

The link carries segments; this carries everything else a case may ask of the target: play its
application (listen, read, write, shutdown, close) and report its TCP state.  What a target can do
is declared in ``capabilities``; a case that needs more is skipped with the reason, never passed.
Keys are always the connection as the tester sees it (tester address first).

Rule: :class:`Target` declares every member a caller uses, so a new target cannot silently behave
differently by lacking one.  Its errors say whose fault they are: :class:`AppFailed` is the
target's (the step fails), :class:`TargetError` is the control channel's (the case errors).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Flag
from typing import Literal, Protocol, runtime_checkable

from tcpconform.errors import SetupError, TcpconformError
from tcpconform.results import TargetEvent
from tcpconform.tcp.segment import FourTuple
from tcpconform.tcp.streamend import ReadEnd


class Capability(Flag):
    """What a target can do beyond exchanging segments.  Case files and agents name them as strings
    (``app``, ``state``); :meth:`named` maps those names, once."""

    NONE = 0
    APP = 1
    """Play its application: listen, connect, read, write, shut down, close, as a case's ``app`` steps ask."""
    STATE = 2
    """Report a connection's TCP state, as a case's ``state`` steps ask."""
    WRITES = 4
    """The application writes data of its own (not what it read): a service such as chargen, daytime."""
    CLOSES_FIRST = 8
    """The application closes before the peer does (daytime: after its line)."""
    KEEPS_OPEN = 16
    """The application keeps the connection open after the peer's FIN (so CLOSE_WAIT lasts)."""
    READS = 32
    """The application takes what the peer sends (its socket stays open for it); one that closes
    without reading answers data with a RST (RFC 1122 4.2.2.13)."""

    def granted(self) -> Capability:
        """What a target with these capabilities gives a case: an agent playing the application
        (``APP``) can make it write, close first or keep the connection open, as the case drives it."""
        return self | APPLICATION if Capability.APP in self else self

    @classmethod
    def named(cls, names: Iterable[str]) -> Capability:
        """The capabilities called ``names``; ``ValueError`` for a name that is none of them."""
        out = cls.NONE
        for name in names:
            member = _BY_NAME.get(name)
            if member is None:
                raise ValueError(f"unknown capability {name!r} (known: {', '.join(sorted(_BY_NAME))})")
            out |= member
        return out


APPLICATION = Capability.WRITES | Capability.CLOSES_FIRST | Capability.KEEPS_OPEN | Capability.READS
"""What a case may need of the application's own behaviour, as opposed to driving it (``APP``)."""
_BY_NAME = {"app": Capability.APP, "state": Capability.STATE, "writes": Capability.WRITES,
            "closes-first": Capability.CLOSES_FIRST, "keeps-open": Capability.KEEPS_OPEN, "reads": Capability.READS}
CAPABILITY_NAMES = frozenset(_BY_NAME)
"""The capabilities' names, as case files and agents write them."""


class TargetError(SetupError):
    """The target control itself failed (unreachable agent, bad request): an error, not a verdict."""


class AppFailed(TcpconformError):
    """The target's application call failed on the target (no such connection, connection reset):
    something the target did, so the step fails rather than errors.  ``errno``: the error's POSIX
    name (``ECONNRESET``) when the target says it."""

    def __init__(self, message: str, errno: str | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class OptionUnsupported(TcpconformError):
    """The target has no such socket option (or refuses the value): what a case asserts of it cannot
    be observed there, so the case is skipped with this reason, never failed."""


class Target(Protocol):
    name: str
    capabilities: Capability
    implied: frozenset[str]
    """Application actions the target's application performs by itself (an echo service listens and
    reads on its own): a case's steps asking for them need no agent."""
    data_salt: int | None
    """Which :func:`~tcpconform.tcp.payload.stream_bytes` stream the target's data is, so it is
    checked byte by byte (its own application's: ``TARGET_SALT``; an echo's: ``TESTER_SALT``);
    ``None``: unknown."""

    @property
    def ip(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def alt_ip(self) -> str | None:
        """The target's second address of the family, on the same link (RFC 9293 3.9.1.1: a
        multihomed host), for the cases about it (``address: second``); ``None``: it has none, or
        none is known, and those cases are skipped with the reason."""
        ...

    def app_listen(self, key: FourTuple) -> None:
        """Listen on the port ``key`` addresses (idempotent); the listener's events go to ``key``'s case."""
        ...

    def app_unlisten(self, key: FourTuple) -> None:
        """Close the listening socket on the port ``key`` addresses; the connections it gave the
        application stay (RFC 9293 MUST-41: listening again must not disturb them)."""
        ...

    def app_connect(self, key: FourTuple, bind: Literal["address", "port"] = "address", route: tuple[str, ...] = ()) -> None:
        """Active open: bind ``key``'s target address and port (``bind`` ``port``: the port alone, the
        stack choosing the source address, RFC 9293 MUST-44) and connect to its tester address and
        port, without waiting for the handshake (the SYN is the case's to see); a later failure of
        the connect is the error of the next call on ``key``.  ``route``: IPv4 addresses, the source
        route the application sets first (MUST-51), first hop first, ``key``'s tester address its
        final destination.  :class:`OptionUnsupported` when the target cannot leave the address
        unbound, or cannot set a source route."""
        ...

    def app_read(self, key: FourTuple, count: int) -> bytes:
        """Read up to ``count`` bytes the application has received; fewer (or none) when fewer are there."""
        ...

    def app_write(self, key: FourTuple, data: bytes, urgent: bool = False) -> None:
        """Write ``data``; ``urgent``: as urgent data (``MSG_OOB``: the urgent pointer follows its last
        octet), :class:`OptionUnsupported` when the target cannot send urgent data."""
        ...

    def app_read_end(self, key: FourTuple) -> ReadEnd:
        """One read of the application, for how the stream ended (:data:`ReadEnd`); bytes that came
        are read and dropped.  :class:`OptionUnsupported` when the target cannot tell (an agent whose
        read does not say ``eof``, or whose failures name no ``errno``)."""
        ...

    def app_shutdown(self, key: FourTuple) -> None:
        """Close the sending side (a FIN), keep reading."""
        ...

    def app_close(self, key: FourTuple) -> None: ...

    def app_setsockopt(self, where: FourTuple | int, name: str, value: int) -> None:
        """Set socket option ``name`` (one of :data:`tcpconform.tcp.sockopts.SOCKET_OPTIONS`) on the
        connection ``where`` or, for a port, on its listening socket (connections accepted after
        inherit it).  :class:`OptionUnsupported` when the target has no such option."""
        ...

    def app_getsockopt(self, where: FourTuple | int, name: str) -> int:
        """Read socket option ``name`` on the connection ``where`` or, for a port, its listening
        socket.  :class:`OptionUnsupported` when the target has no such option or cannot read it."""
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


@runtime_checkable
class Restartable(Protocol):
    """A target that can bring its own stack back when it stops answering (``--restart``)."""

    def restart(self) -> None:
        """The stack as if started anew: every connection and listener gone, faults as configured."""
        ...


class Listeners:
    """Per listening port, the case that opened it: a listener's own events are reported to that case."""

    def __init__(self) -> None:
        self._by_port: dict[int, FourTuple] = {}

    def opened(self, key: FourTuple) -> None:
        self._by_port[key.dport] = key

    def case_of(self, port: int, default: FourTuple) -> FourTuple:
        """The connection of the case that opened the listener on ``port``, else ``default``."""
        return self._by_port.get(port, default)
