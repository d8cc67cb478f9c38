"""The Linux agent: the kernel's own TCP as the target, its application played on command.

Run inside the target's network namespace, talking the agent protocol on stdin/stdout::

    ip netns exec tcpc0-target python -m tcpconform.agent.linux

The application is ordinary sockets: a non-blocking listening socket per ``listen``, connections
accepted when an operation first names them, ``read``/``write``/``shutdown``/``close`` as any server
would call them, socket options set as the application would set them.  The TCP state is not
guessed from the application's side: it is asked of the kernel by exact 4-tuple (:mod:`.diag`), so
sockets the application no longer holds (orphans in LAST_ACK, FIN_WAIT_*, CLOSING, TIME_WAIT) and
ones it does not hold yet (SYN_RECV request socks) are seen as they are.

What the agent reports as events is only what it saw: the application calls it made, and state
changes *between two of its own state queries*.  A transition the kernel went through while nobody
asked (SYN_RCVD -> ESTABLISHED between two polls, a fleeting LAST_ACK) is not reported; the kernel
does not tell, and the agent does not invent it.

Logs go to stderr; stdout carries the protocol only.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import platform
import select
import signal
import socket
import struct
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from tcpconform import __version__
from tcpconform.targets.agent.diag import dump_tcp, family_of, lookup_state, unmap
from tcpconform.targets.agent.protocol import (
    AppError,
    BadRequest,
    Unsupported,
    format_endpoint,
    make_event,
    parse_endpoint,
    serve_stdio,
)
from tcpconform.targets.agent.serve import serve_udp
from tcpconform.tcp.segment import FourTuple

log = logging.getLogger("tcpconform.targets.agent.linux")

WRITE_TIMEOUT = 3.0
"""How long a write may block on a full send buffer: well inside the engine's answer timeout, and a
partial ``written`` tells the engine what the kernel took."""


# -- the agent -------------------------------------------------------------------------------------
@dataclass
class _Conn:
    key: FourTuple
    sock: socket.socket | None
    """``None`` once the application closed it: the kernel may still hold the connection (orphan)."""
    eof_seen: bool = False
    """End of stream already reported: the engine keeps polling, the event is worth one line."""
    pending: AppError | None = None
    """An error a read met after it had bytes to return, or the failure of a connect: the kernel
    reports an error once, so it is kept for the application's next call rather than lost."""
    connecting: bool = False
    """A non-blocking connect whose outcome the application has not seen yet."""


def _sockopt_const(name: str, what: str) -> int:
    value = getattr(socket, name, None)
    if not name.isupper() or isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"unknown socket option {what} {name!r} (a name from Python's socket module)")
    return value


class LinuxAgent:
    """An :class:`~tcpconform.agent.protocol.AgentHandler` over the kernel's TCP in this namespace."""

    def __init__(self, write_timeout: float = WRITE_TIMEOUT) -> None:
        self.write_timeout = write_timeout
        self._listeners: dict[tuple[str, int], socket.socket] = {}
        self._conns: dict[FourTuple, _Conn] = {}
        self._seen: dict[FourTuple, str] = {}
        """The state each connection had at its last query: the base for a state-change event."""
        self._existed: set[FourTuple] = set()
        """Connections known to have existed (accepted, or found by a query): once the kernel has
        no socket for one, it is CLOSED, not LISTEN, even though its port still listens."""
        self._events: list[dict[str, Any]] = []

    # -- protocol operations ------------------------------------------------------------------
    def hello(self) -> dict[str, Any]:
        return {"agent": "linux", "version": __version__, "capabilities": ["app", "state"], "clock": "realtime",
                "detail": _describe_kernel()}

    def listen(self, port: int, ip: str | None) -> None:
        bind_ip = ip or "0.0.0.0"
        if (bind_ip, port) in self._listeners:
            return
        sock = socket.socket(family_of(bind_ip), socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((bind_ip, port))
            sock.listen(socket.SOMAXCONN)
            sock.setblocking(False)
        except OSError as err:
            sock.close()
            raise AppError(f"listen on {format_endpoint(bind_ip, port)} failed: {err.strerror or err}") from None
        self._listeners[(bind_ip, port)] = sock
        self._record("app", f"application listen on {format_endpoint(bind_ip, port)}", port=port)
        log.info("listening on %s", format_endpoint(bind_ip, port))

    def unlisten(self, port: int, ip: str | None) -> None:
        """Close the listening socket, after taking what it holds: those connections are the
        application's, and closing a listener resets the ones it never handed over."""
        bind_ip = ip or "0.0.0.0"
        self._accept_pending()
        sock = self._listeners.pop((bind_ip, port), None)
        if sock is None:
            raise AppError(f"unlisten: no listening socket on {format_endpoint(bind_ip, port)}")
        sock.close()
        self._record("app", f"application closes its listening socket on {format_endpoint(bind_ip, port)}", port=port)

    def connect(self, key: FourTuple, bind: str = "address", route: tuple[str, ...] = ()) -> None:
        """Bind the target's address and port (``bind`` ``port``: the port alone, the kernel choosing
        the source) and connect to the tester's without blocking: the handshake is the case's to
        watch, and its outcome is polled (:meth:`_poll_connects`).  A source the kernel chose other
        than ``key``'s names the connection too, as the tester will see it.  ``route``: an IPv4
        loose source route set first (``IP_OPTIONS``, :func:`route_option_bytes`), which Linux
        takes from an application whatever ``accept_source_route`` says (that governs receiving)."""
        self._accept_pending()
        old = self._conns.get(key)
        if old is not None and old.sock is not None:
            raise AppError(f"cannot connect: the application already has the connection to {format_endpoint(key.src, key.sport)}")
        local, remote = format_endpoint(key.dst, key.dport), format_endpoint(key.src, key.sport)
        sock = socket.socket(family_of(key.dst), socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((key.dst if bind == "address" else "", key.dport))
            if route:
                try:
                    sock.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, route_option_bytes(route))
                except OSError as err:
                    sock.close()
                    raise Unsupported(f"IP_OPTIONS with a source route: {err.strerror or err}") from None
            sock.setblocking(False)
            code = sock.connect_ex((key.src, key.sport))
            chosen = FourTuple(key.src, key.sport, sock.getsockname()[0], key.dport)
        except OSError as err:
            sock.close()
            raise AppError(f"connect from {local} to {remote} failed: {err.strerror or err}") from None
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            raise AppError(f"connect from {local} to {remote} failed: {os.strerror(code)}")
        self._conns[key] = _Conn(key, sock, connecting=True)
        if chosen != key:
            self._conns[chosen] = self._conns[key]
        self._existed.add(key)
        self._seen.pop(key, None)
        self._record("app", f"application connect from {local} to {remote}", key)
        log.info("connecting %s", key)

    def read(self, key: FourTuple, count: int, timeout: float) -> tuple[bytes, bool]:
        conn = self._conn(key, "read")
        sock = conn.sock
        assert sock is not None
        deadline = time.monotonic() + timeout
        got = bytearray()
        eof = False
        try:
            while len(got) < count:
                try:
                    chunk = sock.recv(count - len(got))
                except BlockingIOError:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    select.select([sock], [], [], remaining)
                    continue
                if not chunk:
                    eof = True
                    break
                got += chunk
        except OSError as err:
            failure = self._failure(key, "read", err)
            if not got:
                raise failure from None
            conn.pending = failure  # hand over the bytes already read; the next call reports it
        if got or (eof and not conn.eof_seen):  # the engine polls: empty reads would drown the events
            conn.eof_seen |= eof
            self._record("app", f"application read {len(got)} bytes" + (" (end of stream)" if eof else ""), key)
        return bytes(got), eof

    def write(self, key: FourTuple, data: bytes, urgent: bool = False) -> int:
        """``urgent``: sent with ``MSG_OOB``, so the kernel's urgent pointer follows the last byte."""
        sock = self._open(key, "write")
        deadline = time.monotonic() + self.write_timeout
        view, sent = memoryview(data), 0
        flags = socket.MSG_OOB if urgent else 0
        with self._call(key, "write"):
            while sent < len(data):
                try:
                    sent += sock.send(view[sent:], flags)
                except BlockingIOError:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        log.warning("write to %s blocked: %d of %d bytes taken", key, sent, len(data))
                        break
                    select.select([], [sock], [], remaining)
        self._record("app", f"application write {sent} bytes" + (" urgent (MSG_OOB)" if urgent else "")
                     + ("" if sent == len(data) else f" of {len(data)}"), key)
        return sent

    def shutdown(self, key: FourTuple) -> None:
        sock = self._open(key, "shutdown")
        with self._call(key, "shutdown"):
            sock.shutdown(socket.SHUT_WR)
        self._record("app", "application shutdown (SHUT_WR)", key)

    def close(self, key: FourTuple) -> None:
        # A plain close(): FIN after the queued data -- or RST, if received data was left unread
        # (RFC 2525 2.17, as Linux does); either way the kernel keeps what remains as an orphan.
        conn = self._conn(key, "close", pending=False)  # closing is still possible after an error
        assert conn.sock is not None
        conn.sock.close()
        conn.sock = None
        self._record("app", "application close", key)

    def state(self, key: FourTuple) -> str:
        self._accept_pending()
        entries = dump_tcp(family_of(key.dst))
        if family_of(key.dst) == socket.AF_INET and any(s.family == socket.AF_INET6 for s in self._listeners.values()):
            entries += dump_tcp(socket.AF_INET6)  # a dual-stack listener's IPv4 connections
        state = lookup_state(entries, key, key in self._existed)
        if state not in ("LISTEN", "CLOSED", "SYN_RCVD"):
            # A half-open connection that goes away (a RST in SYN_RCVD) leaves the listener as it was:
            # RFC 9293's "return to LISTEN" for a passive open.  Only a synchronized one ends CLOSED.
            self._existed.add(key)
        old = self._seen.get(key)
        if state != old:
            self._seen[key] = state
            detail = f"{old} -> {state}" if old else f"first observed in {state}"
            self._record("state", detail + " (seen by a state query)", key, old=old, new=state)
        return state

    def events(self) -> list[dict[str, Any]]:
        self._poll_connects()
        out, self._events = self._events, []
        return out

    def _option_sockets(self, key_or_port: FourTuple | int, level: str, name: str,
                        op: str) -> tuple[int, int, list[socket.socket]]:
        """The option's level and name as the kernel's numbers, and the sockets ``op`` acts on: the
        connection's, or every listening socket on the port."""
        lvl = _sockopt_const(level, "level")
        if name.isupper() and not isinstance(getattr(socket, name, None), int):
            raise Unsupported(f"this kernel's socket module has no option {name}")
        opt = _sockopt_const(name, "name")
        if not isinstance(key_or_port, int):
            return lvl, opt, [self._open(key_or_port, op)]
        socks = [s for (_, p), s in self._listeners.items() if p == key_or_port]
        if not socks:
            raise AppError(f"no listening socket on port {key_or_port}")
        return lvl, opt, socks

    def setsockopt(self, key_or_port: FourTuple | int, level: str, name: str, value: int) -> None:
        lvl, opt, socks = self._option_sockets(key_or_port, level, name, "setsockopt")
        for sock in socks:
            try:
                sock.setsockopt(lvl, opt, value)
            except OSError as err:
                if err.errno in (errno.ENOPROTOOPT, errno.EINVAL, errno.EOPNOTSUPP):
                    raise Unsupported(f"the kernel refuses {name}={value}: {err.strerror}") from None
                raise BadRequest(f"setsockopt {level} {name}={value} refused by the kernel: {err.strerror}") from None

    def getsockopt(self, key_or_port: FourTuple | int, level: str, name: str) -> int:
        lvl, opt, socks = self._option_sockets(key_or_port, level, name, "getsockopt")
        sock = socks[0]
        try:
            return sock.getsockopt(lvl, opt)
        except OSError as err:
            if err.errno in (errno.ENOPROTOOPT, errno.EINVAL, errno.EOPNOTSUPP):
                raise Unsupported(f"the kernel cannot read {name}: {err.strerror}") from None
            raise BadRequest(f"getsockopt {level} {name} refused by the kernel: {err.strerror}") from None

    def forget(self, key: FourTuple) -> None:
        self._accept_pending()
        conn = self._conns.pop(key, None)
        self._seen.pop(key, None)
        self._existed.discard(key)
        if conn is not None and conn.sock is not None:
            _abort(conn.sock)

    def reset(self) -> None:
        """Drop every connection (abortively: no orphan is left to linger) and every listener."""
        self._accept_pending()
        for conn in self._conns.values():
            if conn.sock is not None:
                _abort(conn.sock)
        for sock in self._listeners.values():
            sock.close()
        self._conns.clear()
        self._listeners.clear()
        self._seen.clear()
        self._existed.clear()

    # -- helpers -------------------------------------------------------------------------------
    def _record(self, kind: str, detail: str, key: FourTuple | None = None, *, port: int | None = None,
                old: str | None = None, new: str | None = None) -> None:
        self._events.append(make_event(time.time(), kind, detail, key, port=port, old=old, new=new))

    def _poll_connects(self) -> None:
        """Settle the connects that have an outcome: a socket that became writable connected, unless
        ``SO_ERROR`` says why it did not (ECONNREFUSED, ETIMEDOUT...); a failure is an event, and the
        error of the application's next call on the connection."""
        connecting = {c.sock.fileno(): c for c in self._conns.values() if c.connecting and c.sock is not None}
        if not connecting:
            return
        poller = select.poll()
        for fd in connecting:
            poller.register(fd, select.POLLOUT)
        for fd, _ in poller.poll(0):
            conn = connecting[fd]
            assert conn.sock is not None
            conn.connecting = False
            code = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                why = f"{os.strerror(code)} ({errno.errorcode.get(code, code)})"
                conn.pending = AppError(f"the connect failed: {why}")
                self._record("app", f"application connect failed: {why}", conn.key)
            else:
                self._record("app", "application connect completed", conn.key)

    def _accept_pending(self) -> None:
        """Accept whatever the listeners hold: the application takes connections when it needs them;
        and settle the connects that have an outcome."""
        self._poll_connects()
        for sock in self._listeners.values():
            while True:
                try:
                    child, _ = sock.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as err:  # ECONNABORTED and friends: that one is gone, try the next
                    log.info("accept: %s", err)
                    continue
                try:
                    local, remote = child.getsockname(), child.getpeername()
                except OSError:  # reset between accept and now: nothing to name it by
                    child.close()
                    continue
                child.setblocking(False)
                key = FourTuple(unmap(remote[0]), remote[1], unmap(local[0]), local[1])
                stale = self._conns.get(key)
                if stale is not None and stale.sock is not None:
                    _abort(stale.sock)
                self._conns[key] = _Conn(key, child)
                self._existed.add(key)
                self._record("app", "application accept", key)
                log.info("accepted %s", key)

    def _conn(self, key: FourTuple, action: str, pending: bool = True) -> _Conn:
        self._accept_pending()
        conn = self._conns.get(key)
        if conn is None:
            raise AppError(f"cannot {action}: no connection from {format_endpoint(key.src, key.sport)} "
                           f"to {format_endpoint(key.dst, key.dport)}")
        if conn.sock is None:
            raise AppError(f"cannot {action}: the application has already closed the connection from "
                           f"{format_endpoint(key.src, key.sport)}")
        if pending and conn.pending is not None:
            failure, conn.pending = conn.pending, None
            raise failure
        return conn

    def _open(self, key: FourTuple, action: str) -> socket.socket:
        sock = self._conn(key, action).sock
        assert sock is not None
        return sock

    @contextmanager
    def _call(self, key: FourTuple, action: str) -> Iterator[None]:
        """An application call's OSError as the application's failure."""
        try:
            yield
        except OSError as err:
            raise self._failure(key, action, err) from None

    def _failure(self, key: FourTuple, action: str, err: OSError) -> AppError:
        if err.errno == errno.ECONNRESET:
            self._record("reset", f"the application's {action} saw the connection reset", key)
        return AppError(f"{err.strerror or err}", errno.errorcode.get(err.errno) if err.errno else None)


def _abort(sock: socket.socket) -> None:
    """Close with SO_LINGER {1, 0}: the kernel drops the connection at once instead of orphaning it."""
    with suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _describe_kernel() -> str:
    """The kernel release and the settings that shape its segments, for the run's record."""
    settings = []
    for name in ("tcp_sack", "tcp_timestamps", "tcp_window_scaling", "tcp_ecn", "tcp_syncookies"):
        try:
            value = Path("/proc/sys/net/ipv4", name).read_text().strip()
        except OSError:
            continue
        settings.append(f"{name.removeprefix('tcp_')}={value}")
    try:
        netns = os.readlink("/proc/self/ns/net")
    except OSError:
        netns = "?"
    return f"Linux {platform.release()} kernel TCP, {netns}, pid {os.getpid()}; " + " ".join(settings)


# -- main ------------------------------------------------------------------------------------------
def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _udp_socket(parser: argparse.ArgumentParser, text: str) -> socket.socket:
    """The bound socket ``--udp`` names; its address is logged (the port, when 0 was asked for)."""
    try:
        ip, port = parse_endpoint(text)
    except ValueError as err:
        parser.error(f"--udp: {err}")
    sock = socket.socket(family_of(ip), socket.SOCK_DGRAM)
    try:
        sock.bind((ip, port))
    except OSError as err:
        parser.error(f"--udp {text}: cannot bind: {err.strerror or err}")
    print(f"serving on udp {format_endpoint(ip, sock.getsockname()[1])}", file=sys.stderr, flush=True)
    return sock

def route_option_bytes(route: tuple[str, ...]) -> bytes:
    """``IP_OPTIONS`` for a loose source route over ``route`` (first hop first), as Linux takes it
    (ip_options_compile): a NOP, then LSRR with pointer 4 listing the hops.  Linux sends the
    datagram to the first hop and moves the others up, the destination written into the last slot,
    so the wire's option lists the other hops and then the destination (RFC 791 3.1)."""
    body = b"".join(socket.inet_aton(hop) for hop in route)
    return bytes([1, 131, 3 + len(body), 4]) + body



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tcpconform.agent.linux",
                                     description="tcpconform target agent for the Linux kernel's TCP (stdin/stdout)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--udp", metavar="IP:PORT", default=None,
                        help="Serve the protocol over UDP on IP:PORT instead of stdin/stdout (port 0: any free one)")
    args = parser.parse_args(argv)
    udp = _udp_socket(parser, args.udp) if args.udp else None
    logging.basicConfig(stream=sys.stderr, level=args.log_level, format="linux-agent: %(levelname)s %(message)s")
    # The protocol gets a private copy of stdout; fd 1 then points at stderr, so a stray print from
    # anywhere lands in the log instead of corrupting the response stream.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _stop)
    agent = LinuxAgent()
    log.info("started: %s", _describe_kernel())
    status = 0
    try:
        if udp is not None:
            with udp:
                serve_udp(agent, udp)
        else:
            serve_stdio(agent, sys.stdin.buffer, out)
    except SystemExit as stop:
        status = stop.code if isinstance(stop.code, int) else 1
        log.info("stopped by signal %d", status - 128)
    except BrokenPipeError:
        log.info("the engine went away")
    finally:
        agent.reset()
        with suppress(OSError):
            out.close()
    log.info("exiting")
    return status


if __name__ == "__main__":
    sys.exit(main())

