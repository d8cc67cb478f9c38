"""A packetdrill script's events -> the steps of a :class:`~tcpconform.cases.model.TestCase`.

Numbering is relative on both sides (``{tester: 0, target: 0}``), packetdrill's own: inbound
sequence numbers as written, outbound ones relative to the target's ISN, learnt from its SYN.

Timing.  Every event has a script time; the gap from the previous event becomes:

- inbound packet, system call: a ``wait`` of the gap, then the send or the application step;
- outbound packet expected at ``T`` (or ``lo~hi``): an ``expect`` ``within`` the gap to ``hi`` plus the
  tolerance, so a segment later than packetdrill allows fails.  When the gap to ``lo`` exceeds the
  tolerance, a ``silence`` of that gap less the tolerance comes first, tolerating nothing: a segment
  earlier than allowed fails as well.  ``*``: no bound, the run's default one.

The tolerance is the script's ``--tolerance_usecs`` widened to at least :data:`DEFAULT_TOLERANCE`:
packetdrill's 4 ms default is made for a tun device in the kernel under test, while here the tester
is a user-space program on a link to a real device, whose own scheduling costs milliseconds.  The
engine adds its tolerance rule on top (:mod:`tcpconform.engine.timing`).  Unlike packetdrill, a
step's time counts from the end of the step before it (a wait that overran shifts the rest), not from
the script's start: what cannot be checked is a drift over many steps, which each step's bound hides.

By default every step tolerates nothing unexpected (a case's ``tolerate: none``): packetdrill fails a
script on any outbound packet it does not script, and so does the case (a script may say otherwise,
see :mod:`tcpconform.cases.packetdrill`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tcpconform.cases.model import (
    AnyStep,
    AppAction,
    AppStep,
    ExpectStep,
    OptionsSpec,
    SegmentSpec,
    SendStep,
    SilenceStep,
    SockOpt,
    SourceLoc,
    WaitStep,
)
from tcpconform.cases.packetdrill.packets import segment_of
from tcpconform.cases.packetdrill.script import Event, Packet, PktError, Syscall
from tcpconform.tcp.segment import Flags
from tcpconform.tcp.sockopts import MAX_VALUE, SOCKET_OPTIONS

__all__ = ["DEFAULT_TOLERANCE", "Mapped", "map_events"]

DEFAULT_TOLERANCE = 0.25
"""The least tolerance on a scripted time, in seconds: a Scapy tester and a device on a link (and a
loaded host) answer within it, while a stack's timers (a 40 ms delayed ACK against a 200 ms one, a
1 s retransmission timeout against 3 s) still tell apart beyond it."""
NO_OPS = frozenset({"socket", "bind", "fcntl", "accept"})
"""Calls that need no step: the agent makes and binds its socket itself, is non-blocking where it
must be, and accepts the connection as its handshake completes (``accept``'s result is the fd)."""
IGNORED_OPTIONS = frozenset({"SO_REUSEADDR", "SO_REUSEPORT"})
"""Socket options the agent sets on its own listening socket already."""


@dataclass
class Mapped:
    steps: list[AnyStep] = field(default_factory=list)
    tester_window: int | None = None
    tester_mss: int | None = None
    family: str | None = None


@dataclass
class _Fds:
    sockets: set[int] = field(default_factory=set)
    listening: set[int] = field(default_factory=set)
    connections: set[int] = field(default_factory=set)


def map_events(file: str, events: tuple[Event, ...], tolerance: float, tolerate: frozenset[str] = frozenset(),
               early: float = 0.0) -> Mapped:
    """The steps of ``events``; ``tolerate``: what every expect and silence lets pass unscripted;
    ``early``: how long before the tester's send just ahead of it an outbound packet may come and
    still be the one scripted (the script's own tolerance, unwidened: packetdrill judges it by time)."""
    out = Mapped()
    fds = _Fds()
    previous = 0.0
    tsvals: set[int] = set()
    for event in events:
        loc = SourceLoc(file, event.line)
        timing = event.timing
        gap_lo, gap_hi = max(0.0, timing.lo - previous), max(0.0, timing.hi - previous)
        if isinstance(event, Packet):
            spec = segment_of(event, tsvals)
            text = ("<" if event.inbound else ">") + " " + event.body
            if event.inbound:
                _wait(out, loc, gap_lo, timing.any)
                out.steps.append(SendStep(loc, f"send {event.body}", spec))
                _tester_syn(out, spec)
            elif timing.any:
                out.steps.append(ExpectStep(loc, f"expect {event.body}", spec, tolerate=tolerate, early=early))
            else:
                quiet = gap_lo - tolerance
                if quiet > 0:
                    out.steps.append(SilenceStep(loc, f"silence {quiet * 1000:.0f}ms (before {text})", quiet, tolerate))
                within = gap_hi - max(0.0, quiet) + tolerance
                out.steps.append(ExpectStep(loc, f"expect {event.body}, within {within * 1000:.0f}ms", spec,
                                            within=within, tolerate=tolerate, early=early))
        else:
            _wait(out, loc, gap_lo, timing.any)
            out.steps.extend(_syscall(event, loc, fds, out))
        if not timing.any:
            previous = timing.hi
    return out


def _wait(out: Mapped, loc: SourceLoc, gap: float, any_time: bool) -> None:
    if gap > 0 and not any_time:
        out.steps.append(WaitStep(loc, f"wait {gap * 1000:.0f}ms", gap))


def _tester_syn(out: Mapped, spec: SegmentSpec) -> None:
    """The first SYN the tester sends sets the case's window and MSS (the ``mss`` invariant's limit)."""
    if not isinstance(spec.flags, Flags) or not spec.flags & Flags.SYN:
        return
    if out.tester_window is None and isinstance(spec.window, int):
        out.tester_window = spec.window
    if out.tester_mss is None and isinstance(spec.options, OptionsSpec):
        for opt in spec.options.items:
            if opt.kind == "MSS" and isinstance(opt.value, int):
                out.tester_mss = opt.value


def _int(call: Syscall, text: str, what: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise PktError(call.line, f"{call.name}()", f"expected {what} as an integer (got {text!r})") from None


def _fd(call: Syscall, fds: _Fds) -> int:
    if not call.args:
        raise PktError(call.line, f"{call.name}()", "expected the file descriptor as the first argument")
    fd = _int(call, call.args[0], "the file descriptor")
    if fd not in fds.sockets | fds.listening | fds.connections:
        raise PktError(call.line, f"{call.name}()", f"file descriptor {fd} is no socket of the script")
    return fd


def _result(call: Syscall) -> int:
    """The result the call must give; an error result (``-1 ERRNO``) only where the mapping takes it."""
    words = call.result.split()
    if words[0] == "-1" and call.name == "connect" and words[1:2] == ["EINPROGRESS"]:
        return 0
    if words[0] == "-1" and call.name in ("read", "recv") and words[1:2] == ["ECONNRESET"]:
        return -1
    if words[0].startswith("-"):
        raise PktError(call.line, f"{call.name}() = {' '.join(words[:2])}", "error results are not checked (an agent "
                       "reports the call's failure as the step's failure)")
    return _int(call, words[0], "the result")


def _syscall(call: Syscall, loc: SourceLoc, fds: _Fds, out: Mapped) -> list[AnyStep]:
    name, text = call.name, f"app {call.name}({', '.join(call.args)}) = {call.result}"
    result = _result(call)
    if name == "socket":
        kinds = " ".join(call.args)
        if "SOCK_DGRAM" in kinds:
            raise PktError(call.line, "socket(SOCK_DGRAM)", "only TCP sockets are taken")
        out.family = "ipv6" if "AF_INET6" in kinds else "ipv4" if "AF_INET" in kinds else out.family
        fds.sockets.add(result)
        return []
    if name in NO_OPS:
        fd = _fd(call, fds)
        if name == "accept":
            if fd not in fds.listening:
                raise PktError(call.line, "accept()", f"file descriptor {fd} does not listen")
            fds.connections.add(result)
        return []
    if name == "listen":
        fds.listening.add(_fd(call, fds))
        return [AppStep(loc, text, "listen")]
    if name == "connect":
        fds.connections.add(_fd(call, fds))
        return [AppStep(loc, text, "connect")]
    if name in ("write", "send", "read", "recv"):
        _fd(call, fds)
        if len(call.args) < 3:
            raise PktError(call.line, f"{name}()", "expected (fd, ..., count)")
        count = _int(call, call.args[2], "the byte count")
        if name in ("write", "send"):
            if result != count:
                raise PktError(call.line, f"{name}() = {result}", "a short write is not taken: the result is the count")
            return [AppStep(loc, text, "write", count)]
        if result < 0:
            return [AppStep(loc, text, "read-reset")]
        return [AppStep(loc, text, "read-eof")] if result == 0 else [AppStep(loc, text, "read", result)]
    if name == "shutdown":
        _fd(call, fds)
        if call.args[1:] != ("SHUT_WR",):
            raise PktError(call.line, f"shutdown({', '.join(call.args[1:])})", "only SHUT_WR is taken")
        return [AppStep(loc, text, "shutdown")]
    if name == "close":
        fd = _fd(call, fds)
        action: AppAction = "unlisten" if fd in fds.listening and fd not in fds.connections else "close"
        if fd in fds.sockets and fd not in fds.listening | fds.connections:
            return []
        return [AppStep(loc, text, action)]
    if name in ("setsockopt", "getsockopt"):
        return _sockopt(call, loc, text, fds)
    raise PktError(call.line, f"{name}()", "system call not taken (known: socket, bind, listen, accept, connect, "
                   "read, recv, write, send, shutdown, close, setsockopt, getsockopt, fcntl)")


def _sockopt(call: Syscall, loc: SourceLoc, text: str, fds: _Fds) -> list[AnyStep]:
    _fd(call, fds)
    if len(call.args) < 4:
        raise PktError(call.line, f"{call.name}()", "expected (fd, LEVEL, NAME, [VALUE], LEN)")
    option = call.args[2]
    if call.name == "setsockopt" and option in IGNORED_OPTIONS:
        return []
    if option not in SOCKET_OPTIONS:
        raise PktError(call.line, f"{call.name}({option})", f"socket option not taken (known: {', '.join(SOCKET_OPTIONS)})")
    value = call.args[3].strip("[]")
    number = _int(call, value, "the option's value")
    if not 0 <= number <= MAX_VALUE:
        raise PktError(call.line, f"{call.name}({option})", f"the value is an integer from 0 to {MAX_VALUE:,}")
    action: AppAction = "setsockopt" if call.name == "setsockopt" else "getsockopt"
    return [AppStep(loc, text, action, None, sockopt=SockOpt(option, number))]
