"""How the engine reaches an agent: the agent protocol's JSON lines over a child process's
stdin/stdout, over UDP, or over a serial line, chosen by a spec (:func:`parse_agent_spec`):

* ``cmd:COMMAND`` -- a child process (shell words), spoken to on its stdin/stdout, its stderr kept
  as its log.  It is started in a session of its own so that a Ctrl-C meant for the engine reaches
  the engine only, and it is always reaped (:meth:`ProcessTransport.close` and a finalizer).
* ``udp:HOST:PORT`` -- one request per datagram, one response per datagram.  Datagrams are lost:
  the client sends a request again when no answer came within :attr:`Transport.resend_after`
  (doubling), and the agent answers a duplicate once, by replaying the response it kept for that id
  (:mod:`tcpconform.targets.agent.serve`).  Ids start at a random number, so that a new engine's
  request is never taken for a duplicate of an earlier engine's.
* ``serial:PATH[@BAUD]`` -- a tty (a UART, a USB serial adapter, a pty), raw mode, one line each
  way.  Lines that are not JSON objects are the device's console output sharing the line: logged,
  skipped.

The UDP and serial agents run on their own (on a device); they outlive the engine, so the engine
never asks them to quit: it resets them at the start and the end of its session.

Invariant: a transport moves whole messages and nothing else; matching answers to requests, and
every protocol rule, is the client's (:class:`~tcpconform.targets.agent.client.AgentTarget`).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import select
import shlex
import signal
import socket
import subprocess
import termios
import threading
import time
import tty
import weakref
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import IO, Literal, Protocol

log = logging.getLogger("tcpconform.targets.agent.transport")

STDERR_LINES = 20
UDP_MAX_DATAGRAM = 65507
UDP_MAX_DATA = 16384
"""Bytes of data per read or write over UDP: their hex and the JSON around it fit one datagram."""
RESEND_AFTER = 0.2
"""Seconds before an unanswered UDP request is sent again (then doubled, up to :data:`RESEND_MAX`):
an agent on a LAN answers in milliseconds, and one busy in a blocking write answers the duplicate
from its replay cache once free."""
RESEND_MAX = 1.0
BAUDS = {int(name[1:]): getattr(termios, name) for name in dir(termios)
         if name.startswith("B") and name[1:].isdigit() and int(name[1:]) > 0}


class TransportGone(Exception):
    """The agent's end of the transport is gone (process exited, tty hung up): ``how`` says what happened."""

    def __init__(self, how: str) -> None:
        super().__init__(how)
        self.how = how


class Transport(Protocol):
    """One agent's message channel.  ``receive`` returns one message without its newline, or ``None``
    once ``deadline`` (``time.monotonic()``) has passed; both raise :class:`TransportGone`."""

    who: str
    """The agent as error messages name it (``pid 42, python -m ...``, ``udp 192.0.2.9:4242``)."""
    resend_after: float | None
    """Seconds before an unanswered request is sent again; ``None``: never (a reliable channel)."""
    first_id: int
    persistent: bool
    """The agent outlives the engine (a device): it is reset, never asked to quit."""
    noisy: bool
    """Lines that are not JSON may arrive (a console sharing the line): skipped, not an error."""
    max_data: int | None
    """Bytes of data one read or write may carry; ``None``: no limit of the transport's."""

    def send(self, message: bytes) -> None: ...

    def receive(self, deadline: float) -> bytes | None: ...

    def close(self, quit_message: bytes) -> None: ...

    def tail(self) -> str:
        """What the agent said last on its log, for an error message ('' if nothing)."""
        ...


# -- the spec ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AgentSpec:
    """``--agent`` parsed: ``kind`` and the fields that kind uses."""

    kind: Literal["cmd", "udp", "serial"]
    text: str
    command: tuple[str, ...] = ()
    host: str = ""
    port: int = 0
    path: str = ""
    baud: int | None = None


SPEC_FORMS = "cmd:COMMAND, udp:HOST:PORT (IPv6: udp:[ADDR]:PORT) or serial:PATH[@BAUD]"


def parse_agent_spec(text: str) -> AgentSpec:
    """``text`` as an :class:`AgentSpec`; ``ValueError`` saying what is wrong and what is accepted."""
    kind, sep, rest = text.partition(":")
    if not sep or kind not in ("cmd", "udp", "serial"):
        raise ValueError(f"--agent {text!r}: expected {SPEC_FORMS}")
    if kind == "cmd":
        try:
            words = tuple(shlex.split(rest))
        except ValueError as err:
            raise ValueError(f"--agent {text!r}: the command does not parse as shell words: {err}") from None
        if not words:
            raise ValueError(f"--agent {text!r}: cmd: needs a command")
        return AgentSpec("cmd", text, command=words)
    if kind == "udp":
        host, colon, port_text = rest.rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not colon or not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"--agent {text!r}: udp: is udp:HOST:PORT with a port in 1..65535")
        return AgentSpec("udp", text, host=host, port=int(port_text))
    path, at, baud_text = rest.partition("@")
    if not path:
        raise ValueError(f"--agent {text!r}: serial: needs the tty's path")
    baud = None
    if at:
        if not baud_text.isdigit() or int(baud_text) not in BAUDS:
            raise ValueError(f"--agent {text!r}: {baud_text!r} is not a baud rate this system knows "
                             f"(e.g. 9600, 115200)")
        baud = int(baud_text)
    return AgentSpec("serial", text, path=path, baud=baud)


def check_off_the_link(spec: AgentSpec, target_ip: str) -> None:
    """Refuse a UDP agent at the tested address: its datagrams would cross the link under test, where
    the tester's raw socket sees every frame and the target's TCP/IP stack is the thing being broken
    on purpose (a case that wedges the stack would take its own control channel with it)."""
    if spec.kind != "udp":
        return
    target = ipaddress.ip_address(target_ip)
    try:
        found = {ipaddress.ip_address(str(info[4][0]).split("%")[0])
                 for info in socket.getaddrinfo(spec.host, spec.port, type=socket.SOCK_DGRAM)}
    except (OSError, ValueError) as err:
        raise ValueError(f"--agent {spec.text}: cannot resolve {spec.host!r}: {err}") from None
    if target in found or any(_v4(a) == target for a in found):
        raise ValueError(f"--agent {spec.text} is the --target address {target}: the agent's control channel must "
                         "not cross the link under test (the cases disturb that TCP/IP stack on purpose, and the "
                         "tester's raw socket sees every frame on it); reach the agent another way: its address "
                         "on another interface, or serial:")


def _v4(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return addr.ipv4_mapped or addr if isinstance(addr, ipaddress.IPv6Address) else addr


def open_transport(spec: AgentSpec, env: dict[str, str] | None = None) -> Transport:
    """The transport ``spec`` names, open; ``OSError`` (or ``ValueError``) when it cannot be."""
    if spec.kind == "cmd":
        return ProcessTransport(list(spec.command), env)
    if spec.kind == "udp":
        return UdpTransport(spec.host, spec.port)
    return SerialTransport(spec.path, spec.baud)


# -- a child process --------------------------------------------------------------------------------
def end_process(proc: subprocess.Popen[bytes], grace: float) -> None:
    """Stop ``proc`` (and whatever it started in its session) if it still runs, and reap it."""
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
            try:
                os.killpg(proc.pid, sig)  # its own session: the group id is its pid, and it is not reaped yet
            except ProcessLookupError:
                break
            except PermissionError:
                proc.send_signal(sig)
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            with suppress(OSError):  # a broken pipe has nothing left to say
                pipe.close()


class _Lines:
    """Bytes in, whole lines out (empty lines dropped)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def add(self, chunk: bytes) -> None:
        self._buf += chunk

    def next(self) -> bytes | None:
        while True:
            end = self._buf.find(b"\n")
            if end < 0:
                return None
            line = bytes(self._buf[:end]).rstrip(b"\r")
            del self._buf[: end + 1]
            if line.strip():
                return line

    def read(self, fd: int, deadline: float, chunk: Callable[[], bytes | None]) -> bytes | None:
        """The next whole line from ``fd``, waiting until ``deadline`` (monotonic) at most; ``chunk``
        reads what is there (``None``: nothing after all, wait again; it raises when the line is gone)."""
        while True:
            line = self.next()
            if line is not None:
                return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                got = chunk()
                if got is not None:
                    self.add(got)


class ProcessTransport:
    """The agent as a child process on stdin/stdout (``cmd:``)."""

    resend_after: float | None = None
    first_id = 1
    persistent = False
    noisy = False
    max_data: int | None = None
    QUIT_TIMEOUT = 2.0

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self._lines = _Lines()
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, start_new_session=True, close_fds=True)
        self.who = f"pid {self.proc.pid}, {' '.join(self.argv)}"
        self._finalizer = weakref.finalize(self, end_process, self.proc, 0.5)
        self._stderr_thread = threading.Thread(target=self._pump_stderr, name=f"agent-stderr-{self.proc.pid}", daemon=True)
        self._stderr_thread.start()

    @property
    def stderr_tail(self) -> list[str]:
        return list(self._stderr)

    def send(self, message: bytes) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            stdin.write(message)
            stdin.flush()
        except OSError:
            raise self._gone() from None

    def receive(self, deadline: float) -> bytes | None:
        stdout = self.proc.stdout
        assert stdout is not None
        fd = stdout.fileno()

        def chunk() -> bytes:
            got = os.read(fd, 1 << 16)
            if not got:
                raise self._gone()
            return got

        return self._lines.read(fd, deadline, chunk)

    def close(self, quit_message: bytes) -> None:
        """Ask the agent to quit; stop it if it does not.  Never leaves the process behind."""
        proc = self.proc
        if proc.poll() is None and proc.stdin is not None:
            try:
                proc.stdin.write(quit_message)
                proc.stdin.flush()
                proc.stdin.close()  # end of input: the other way to say quit
            except OSError:
                pass
            try:
                proc.wait(timeout=self.QUIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.warning("the agent (pid %d) did not quit; stopping it", proc.pid)
        self._end()

    def tail(self) -> str:
        lines = list(self._stderr)
        if not lines:
            return "; it wrote nothing on stderr"
        return "; its last stderr lines:\n  " + "\n  ".join(lines)

    def _end(self) -> None:
        end_process(self.proc, 1.0)
        self._finalizer.detach()
        self._stderr_thread.join(timeout=1.0)

    def _gone(self) -> TransportGone:
        """The process is gone: its exit status, once reaped (its last words are in :meth:`tail`)."""
        try:
            status = self.proc.wait(timeout=1.0)
            how = f"exited with status {status}" if status >= 0 else f"was killed by signal {-status}"
        except subprocess.TimeoutExpired:
            how = "closed its output"
        self._stderr_thread.join(timeout=0.5)  # its last words, before they are quoted
        end_process(self.proc, 0.5)
        self._finalizer.detach()
        return TransportGone(how)

    def _pump_stderr(self) -> None:
        stream: IO[bytes] | None = self.proc.stderr
        if stream is None:
            return
        try:
            for raw in iter(stream.readline, b""):
                text = raw.decode(errors="replace").rstrip()
                self._stderr.append(text)
                log.debug("agent pid %d: %s", self.proc.pid, text)
        except (OSError, ValueError):  # the pipe was closed under us at shutdown
            pass


# -- UDP --------------------------------------------------------------------------------------------
class UdpTransport:
    """The agent at ``host:port`` over UDP (``udp:``): a connected socket, so only its datagrams arrive."""

    resend_after: float | None = RESEND_AFTER
    persistent = True
    noisy = False
    max_data: int | None = UDP_MAX_DATA

    def __init__(self, host: str, port: int) -> None:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        self.sock = socket.socket(family, kind, proto)
        try:
            self.sock.connect(addr)
        except OSError:
            self.sock.close()
            raise
        self.first_id = 1 + secrets.randbelow(1 << 30)
        host_text = str(addr[0])
        shown = f"[{host_text}]" if family == socket.AF_INET6 else host_text
        self.who = f"udp {shown}:{port}"
        self._refused = False

    def send(self, message: bytes) -> None:
        if len(message) > UDP_MAX_DATAGRAM:
            raise TransportGone(f"was sent a request of {len(message)} bytes, more than one datagram carries")
        try:
            self.sock.send(message)
        except ConnectionRefusedError:  # an earlier datagram's ICMP port unreachable
            self._refused = True
        except OSError as err:
            raise TransportGone(f"cannot be reached: {err.strerror or err}") from None

    def receive(self, deadline: float) -> bytes | None:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self.sock], [], [], remaining)
            if not ready:
                continue
            try:
                data = self.sock.recv(UDP_MAX_DATAGRAM + 1)
            except ConnectionRefusedError:
                self._refused = True  # nobody there yet, or a reply to a lost request: keep trying
                continue
            except OSError as err:
                raise TransportGone(f"cannot be reached: {err.strerror or err}") from None
            data = data.strip()
            if data:
                return data

    def close(self, quit_message: bytes) -> None:
        self.sock.close()

    def tail(self) -> str:
        return "; its host answered 'port unreachable': is the agent running there?" if self._refused else ""


# -- a serial line ----------------------------------------------------------------------------------
class SerialTransport:
    """The agent on a tty (``serial:``), raw mode at ``baud`` (default: the tty's)."""

    resend_after: float | None = None
    persistent = True
    noisy = True
    max_data: int | None = None

    def __init__(self, path: str, baud: int | None = None) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            if not os.isatty(self.fd):
                raise OSError(f"{path} is not a tty")
            tty.setraw(self.fd, termios.TCSANOW)
            attrs = termios.tcgetattr(self.fd)
            attrs[2] |= termios.CLOCAL | termios.CREAD  # no modem lines to wait for
            if baud is not None:
                attrs[4] = attrs[5] = BAUDS[baud]
            termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
            termios.tcflush(self.fd, termios.TCIOFLUSH)  # what an earlier session left on the line
        except (OSError, termios.error):
            os.close(self.fd)
            raise
        self.first_id = 1 + secrets.randbelow(1 << 30)
        self.who = f"serial {path}" + (f" at {baud} baud" if baud else "")
        self._lines = _Lines()

    def send(self, message: bytes) -> None:
        view = memoryview(message)
        deadline = time.monotonic() + 5.0 + len(message) / 100  # even 1200 baud moves 100 bytes a second
        while view:
            try:
                view = view[os.write(self.fd, view):]
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TransportGone("does not take what is written to its line (flow control stuck?)") from None
                select.select([], [self.fd], [], 0.1)
            except OSError as err:
                raise TransportGone(f"is gone from its line: {err.strerror or err}") from None

    def receive(self, deadline: float) -> bytes | None:
        def chunk() -> bytes | None:
            try:
                got = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return None
            except OSError as err:  # EIO: the other end of a pty closed, the adapter was unplugged
                raise TransportGone(f"is gone from its line: {err.strerror or err}") from None
            if not got:
                raise TransportGone("hung up its line")
            return got

        return self._lines.read(self.fd, deadline, chunk)

    def close(self, quit_message: bytes) -> None:
        with suppress(OSError):
            os.close(self.fd)

    def tail(self) -> str:
        return ""
