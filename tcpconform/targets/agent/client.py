"""The engine's side of the agent protocol: :class:`AgentTarget`, a :class:`~tcpconform.targets.base.Target`
whose application and state live in an agent process (``docs/agent-protocol.md``).

The agent is a child process spoken to over its stdin/stdout; it is started in a session of its own
so that a Ctrl-C meant for the engine reaches the engine only, which then stops the agent in order.
Whatever happens (an error, an exception in the engine, the interpreter exiting), the process is
reaped: :meth:`AgentTarget.close`, the context manager and a finalizer all end it.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from contextlib import suppress
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from tcpconform.results import TargetEvent
from tcpconform.targets.agent.protocol import ProtocolError, decode_line, encode_line, key_to_conn, parse_event
from tcpconform.targets.base import CAPABILITY_NAMES, AppFailed, Capability, Listeners, OptionUnsupported, TargetError
from tcpconform.tcp.payload import TARGET_SALT
from tcpconform.tcp.segment import FourTuple
from tcpconform.tcp.sockopts import level_of

log = logging.getLogger("tcpconform.targets.agent.client")

READ_TIMEOUT = 0.005
"""How long one ``read`` waits on the target: the engine polls, and must keep serving the wire."""
QUIT_TIMEOUT = 2.0
STDERR_LINES = 20


def linux_agent_argv(netns: str | None = None, python: str = sys.executable) -> list[str]:
    """The command line of the Linux agent, inside network namespace ``netns`` if given."""
    agent = [python, "-m", "tcpconform.targets.agent.linux"]
    return ["ip", "netns", "exec", netns, *agent] if netns else agent


def _agent_env() -> dict[str, str]:
    """This process's environment, with this very ``tcpconform`` first on the Python path: the agent
    must speak the engine's version of the protocol, installed or not."""
    env = dict(os.environ)
    here = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH", "")) if p)
    return env


def _end(proc: subprocess.Popen[bytes], grace: float) -> None:
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


class AgentTarget:
    """A target driven through an agent process.

    ``argv`` starts the agent, e.g. ``linux_agent_argv("tcpc0-target")``; ``ip``/``port`` are the
    target's address as the tester sees it.  ``timeout`` bounds every answer.  The agent says what it
    can do in its ``hello``; the capabilities this tester knows of become :attr:`capabilities`.
    """

    implied: frozenset[str] = frozenset()
    """Nothing: the agent's application does only what the case asks."""
    data_salt: int | None = TARGET_SALT
    """The agent writes the bytes the engine gives it: the target application's stream."""

    def __init__(self, argv: list[str], name: str, ip: str, port: int, timeout: float = 5.0, *,
                 read_timeout: float = READ_TIMEOUT, env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.name = name
        self._ip, self._port = ip, port
        self.timeout = timeout
        self.read_timeout = read_timeout
        self.capabilities = Capability.NONE
        self.info: dict[str, Any] = {}
        self._ids = 0
        self._buf = bytearray()
        self._closed = False
        self._listeners = Listeners()
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES)
        try:
            self._proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, env=env if env is not None else _agent_env(),
                                          start_new_session=True, close_fds=True)
        except OSError as err:
            self._closed = True
            raise TargetError(f"{name}: cannot start the agent {self.argv[0]!r}: {err.strerror or err}") from None
        self._finalizer = weakref.finalize(self, _end, self._proc, 0.5)
        self._stderr_thread = threading.Thread(target=self._pump_stderr, name=f"agent-stderr-{self._proc.pid}",
                                               daemon=True)
        self._stderr_thread.start()
        try:
            self.info = self.request("hello")
            caps = self.info.get("capabilities", [])
            if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
                raise TargetError(f"{name}: the agent's hello has no list of capabilities: {self.info!r}")
            self.capabilities = Capability.named(c for c in caps if c in CAPABILITY_NAMES)  # others: not ours to use
        except BaseException:
            self.close()
            raise

    # -- Target --------------------------------------------------------------------------------
    @property
    def ip(self) -> str:
        return self._ip

    @property
    def port(self) -> int:
        return self._port

    @property
    def pid(self) -> int:
        return self._proc.pid

    def app_listen(self, key: FourTuple) -> None:
        self._listeners.opened(key)
        self._app("listen", port=key.dport, ip=key.dst)

    def app_connect(self, key: FourTuple) -> None:
        self._app("connect", conn=key_to_conn(key))

    def app_read(self, key: FourTuple, count: int) -> bytes:
        # The agent waits at most read_timeout for data (the engine polls and must keep serving the
        # wire); its answer may take as long as any other (a loaded machine is slow to answer).
        got = self._app("read", conn=key_to_conn(key), count=count, args={"timeout": self.read_timeout})
        try:
            return bytes.fromhex(got["data"])
        except (KeyError, TypeError, ValueError):
            raise TargetError(f"{self.name}: the agent's read answer has no hex data: {got!r}") from None

    def app_write(self, key: FourTuple, data: bytes) -> None:
        got = self._app("write", conn=key_to_conn(key), data=data.hex())
        written = got.get("written")
        if written != len(data):
            raise AppFailed(f"the application's write failed: the kernel took only {written} of {len(data)} bytes")

    def app_shutdown(self, key: FourTuple) -> None:
        self._app("shutdown", conn=key_to_conn(key))

    def app_close(self, key: FourTuple) -> None:
        self._app("close", conn=key_to_conn(key))

    def app_setsockopt(self, where: FourTuple | int, name: str, value: int) -> None:
        """The option at its level (:func:`tcpconform.tcp.sockopts.level_of`); an agent without it
        answers kind ``unsupported`` (:class:`OptionUnsupported`)."""
        try:
            self.setsockopt(where, level_of(name), name, value)
        except AppFailed as err:
            raise AppFailed(f"the application's setsockopt {name} {value} failed: {err}") from None

    def _app(self, action: str, args: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """One application request; what the target's application refuses says which action it was."""
        try:
            return self.request(action, args=args, **kwargs)
        except AppFailed as err:
            raise AppFailed(f"the application's {action} failed: {err}") from None

    def state(self, key: FourTuple) -> str | None:
        got = self.request("state", conn=key_to_conn(key)).get("state")
        if not isinstance(got, str):
            raise TargetError(f"{self.name}: the agent's state answer has no state: {got!r}")
        return got

    def drain_events(self) -> list[tuple[FourTuple, TargetEvent]]:
        got = self.request("events").get("events")
        if not isinstance(got, list):
            raise TargetError(f"{self.name}: the agent's events answer has no list of events")
        out = []
        for raw in got:
            try:
                key, port, event = parse_event(raw)
            except ProtocolError as err:
                raise TargetError(f"{self.name}: malformed event from the agent: {err}") from None
            if key is None:  # a listener's event: to the case that opened the listener
                lport = self._port if port is None else port
                key = self._listeners.case_of(lport, FourTuple("0.0.0.0", 0, self._ip, lport))
            out.append((key, event))
        return out

    def forget(self, key: FourTuple) -> None:
        self.request("forget", conn=key_to_conn(key))

    # -- beyond Target -------------------------------------------------------------------------
    def setsockopt(self, key_or_port: FourTuple | int, level: str, name: str, value: int) -> None:
        where: dict[str, Any] = {"port": key_or_port} if isinstance(key_or_port, int) else {"conn": key_to_conn(key_or_port)}
        self.request("setsockopt", level=level, name=name, value=value, **where)

    def reset(self) -> None:
        self.request("reset")

    def restart(self) -> None:
        """The agent's stack as if started anew (its ``reset``): what ``--restart`` does to it."""
        self.reset()

    def request(self, op: str, timeout: float | None = None, args: dict[str, Any] | None = None,
                **kwargs: Any) -> dict[str, Any]:
        """One request, its answer.  :class:`AppFailed` for kind ``app``; :class:`TargetError` for
        kind ``agent``, a dead agent, a garbled answer, or no answer within ``timeout`` (default: the
        client's).  ``args`` are request arguments whose names a keyword cannot carry (``timeout``)."""
        args = {**kwargs, **(args or {})}
        if self._closed:
            raise TargetError(f"{self.name}: the agent has been closed")
        self._ids += 1
        rid = self._ids
        line = encode_line({"id": rid, "op": op, **args})
        stdin = self._proc.stdin
        assert stdin is not None
        try:
            stdin.write(line)
            stdin.flush()
        except OSError:
            raise self._dead(f"sending {op!r}") from None
        within = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + within
        while True:
            answer = self._next_message(op, deadline, within)
            aid = answer.get("id")
            if aid == rid:
                break
            if isinstance(aid, int) and not isinstance(aid, bool) and aid < rid:
                continue  # the late answer to a request that timed out
            raise TargetError(f"{self.name}: answer to request {aid!r} while waiting for {rid} ({op}): {answer!r}")
        if answer.get("ok") is True:
            return answer
        message = str(answer.get("error") or "(no message)")
        if answer.get("kind") == "app":
            raise AppFailed(message)
        if answer.get("kind") == "unsupported":
            raise OptionUnsupported(message)
        raise TargetError(f"{self.name}: the agent could not {op}: {message}")

    # -- the process ---------------------------------------------------------------------------
    def close(self) -> None:
        """Ask the agent to quit; stop it if it does not.  Never leaves the process behind."""
        if self._closed:
            return
        self._closed = True
        proc = self._proc
        if proc.poll() is None and proc.stdin is not None:
            try:
                proc.stdin.write(encode_line({"id": self._ids + 1, "op": "quit"}))
                proc.stdin.flush()
                proc.stdin.close()  # end of input: the other way to say quit
            except OSError:
                pass
            try:
                proc.wait(timeout=QUIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.warning("%s: the agent (pid %d) did not quit; stopping it", self.name, proc.pid)
        _end(proc, 1.0)
        self._finalizer.detach()
        self._stderr_thread.join(timeout=1.0)

    def __enter__(self) -> AgentTarget:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def stderr_tail(self) -> list[str]:
        """The agent's last log lines: the best clue when it fails."""
        return list(self._stderr)

    def _pump_stderr(self) -> None:
        stream: IO[bytes] | None = self._proc.stderr
        if stream is None:
            return
        try:
            for raw in iter(stream.readline, b""):
                text = raw.decode(errors="replace").rstrip()
                self._stderr.append(text)
                log.debug("%s: %s", self.name, text)
        except (OSError, ValueError):  # the pipe was closed under us at shutdown
            pass

    def _next_message(self, op: str, deadline: float, within: float) -> dict[str, Any]:
        stdout = self._proc.stdout
        assert stdout is not None
        fd = stdout.fileno()
        while True:
            end = self._buf.find(b"\n")
            if end >= 0:
                line = bytes(self._buf[:end])
                del self._buf[: end + 1]
                if not line.strip():
                    continue
                try:
                    return decode_line(line)
                except ProtocolError as err:
                    raise TargetError(f"{self.name}: garbled answer to {op!r} ({err}): {line[:200]!r}"
                                      f"{self._tail()}") from None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TargetError(f"{self.name}: no answer to {op!r} within {within:g} s "
                                  f"(agent pid {self._proc.pid}){self._tail()}")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise self._dead(f"waiting for the answer to {op!r}")
            self._buf += chunk

    def _dead(self, doing: str) -> TargetError:
        """The agent is gone: say so with its exit status and last words, and reap it."""
        try:
            status = self._proc.wait(timeout=1.0)
            how = f"exited with status {status}" if status >= 0 else f"was killed by signal {-status}"
        except subprocess.TimeoutExpired:
            how = "closed its output"
        self._stderr_thread.join(timeout=0.5)  # its last words, before they are quoted
        self._closed = True
        _end(self._proc, 0.5)
        self._finalizer.detach()
        return TargetError(f"{self.name}: the agent (pid {self._proc.pid}, {' '.join(self.argv)}) {how} while "
                           f"{doing}{self._tail()}")

    def _tail(self) -> str:
        lines = list(self._stderr)
        if not lines:
            return "; it wrote nothing on stderr"
        return "; its last stderr lines:\n  " + "\n  ".join(lines)
