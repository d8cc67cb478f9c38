"""The engine's side of the agent protocol: :class:`AgentTarget`, a :class:`~tcpconform.targets.base.Target`
whose application and state live in an agent (``docs/agent-protocol.md``).

The agent is reached over a :mod:`~tcpconform.targets.agent.transport`: a child process's stdin/stdout
(started here, and always reaped: :meth:`AgentTarget.close`, the context manager and a finalizer all
end it), UDP or a serial line (an agent running on a device).  Whatever the transport, a request is
answered once, matched by its id; over a lossy transport it is sent again until answered or timed out,
and a late or duplicate answer to an earlier request is passed over.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from tcpconform.results import TargetEvent
from tcpconform.targets.agent.protocol import ProtocolError, decode_line, encode_line, key_to_conn, parse_event
from tcpconform.targets.agent.transport import RESEND_MAX, ProcessTransport, Transport, TransportGone
from tcpconform.targets.base import CAPABILITY_NAMES, AppFailed, Capability, Listeners, OptionUnsupported, TargetError
from tcpconform.tcp.payload import TARGET_SALT
from tcpconform.tcp.segment import FourTuple
from tcpconform.tcp.sockopts import level_of
from tcpconform.tcp.streamend import ReadEnd

log = logging.getLogger("tcpconform.targets.agent.client")

READ_TIMEOUT = 0.005
"""How long one ``read`` waits on the target: the engine polls, and must keep serving the wire."""
RESET_TIMEOUT = 2.0
"""How long a device's agent may take to answer the ``reset`` that ends a session."""


def linux_agent_argv(netns: str | None = None, python: str = sys.executable) -> list[str]:
    """The command line of the Linux agent, inside network namespace ``netns`` if given."""
    agent = [python, "-m", "tcpconform.targets.agent.linux"]
    return ["ip", "netns", "exec", netns, *agent] if netns else agent


def agent_env() -> dict[str, str]:
    """This process's environment, with this very ``tcpconform`` first on the Python path: the agent
    must speak the engine's version of the protocol, installed or not."""
    env = dict(os.environ)
    here = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH", "")) if p)
    return env


def _limit(info: dict[str, Any], name: str, transport: int | None) -> int | None:
    """The smaller of the agent's limit ``name`` (from its hello; absent: none) and the transport's."""
    value = info.get(name)
    own = value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
    limits = [x for x in (own, transport) if x is not None]
    return min(limits) if limits else None


class AgentTarget:
    """A target driven through an agent.

    ``agent`` is the command line of an agent process to start (e.g. ``linux_agent_argv("tcpc0-target")``)
    or an open :class:`~tcpconform.targets.agent.transport.Transport` to one already running; ``ip``/``port``
    are the target's address as the tester sees it.  ``timeout`` bounds every answer.  The agent says
    what it can do in its ``hello``; the capabilities this tester knows of become :attr:`capabilities`,
    and the ``max_read``/``max_write`` it names bound every read and write (a write longer than that
    goes as several).  An agent that outlives the engine (a device's) is reset on the way in and out.
    """

    implied: frozenset[str] = frozenset()
    """Nothing: the agent's application does only what the case asks."""
    data_salt: int | None = TARGET_SALT
    """The agent writes the bytes the engine gives it: the target application's stream."""

    def __init__(self, agent: list[str] | Transport, name: str, ip: str, port: int, timeout: float = 5.0, *,
                 read_timeout: float = READ_TIMEOUT, env: dict[str, str] | None = None,
                 alt_ip: str | None = None) -> None:
        self.name = name
        self._ip, self._port = ip, port
        self.alt_ip = alt_ip
        """The target's second address (``run --target-alt``, the lab's), or ``None``."""
        self.timeout = timeout
        self.read_timeout = read_timeout
        self.capabilities = Capability.NONE
        self.info: dict[str, Any] = {}
        self._closed = False
        self._listeners = Listeners()
        if isinstance(agent, list):
            self.argv = list(agent)
            try:
                self.transport: Transport = ProcessTransport(self.argv, env if env is not None else agent_env())
            except OSError as err:
                self._closed = True
                raise TargetError(f"{name}: cannot start the agent {self.argv[0]!r}: {err.strerror or err}") from None
        else:
            self.argv = []
            self.transport = agent
        self._ids = self.transport.first_id - 1
        try:
            self.info = self.request("hello")
            caps = self.info.get("capabilities", [])
            if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
                raise TargetError(f"{name}: the agent's hello has no list of capabilities: {self.info!r}")
            self.capabilities = Capability.named(c for c in caps if c in CAPABILITY_NAMES)  # others: not ours to use
            self.max_read = _limit(self.info, "max_read", self.transport.max_data)
            self.max_write = _limit(self.info, "max_write", self.transport.max_data)
            if self.transport.persistent:
                self.reset()  # what an earlier session left on the device
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

    def app_listen(self, key: FourTuple) -> None:
        self._listeners.opened(key)
        self._app("listen", port=key.dport, ip=key.dst)

    def app_unlisten(self, key: FourTuple) -> None:
        self._app("unlisten", port=key.dport, ip=key.dst)

    def app_connect(self, key: FourTuple, bind: Literal["address", "port"] = "address", route: tuple[str, ...] = ()) -> None:
        if bind == "address" and not route:
            self._app("connect", conn=key_to_conn(key))
            return
        args: dict[str, object] = {"bind": bind} if bind != "address" else {}
        if route:
            args["route"] = list(route)
        got = self._app("connect", conn=key_to_conn(key), args=args)
        if got.get("bind", "address") != bind:  # an agent that knows no "bind" bound the address all the same
            raise OptionUnsupported(f"{self.name}: the agent cannot connect without binding a local address "
                                    "(its connect answers no \"bind\": \"port\")")
        if route and got.get("route") != list(route):  # an agent that knows no "route" connected without it
            raise OptionUnsupported(f"{self.name}: the agent cannot set a source route before connecting "
                                    "(its connect answers no \"route\")")

    def app_read(self, key: FourTuple, count: int) -> bytes:
        # The agent waits at most read_timeout for data (the engine polls and must keep serving the
        # wire); its answer may take as long as any other (a loaded machine is slow to answer).
        count = count if self.max_read is None else min(count, self.max_read)
        got = self._app("read", conn=key_to_conn(key), count=count, args={"timeout": self.read_timeout})
        try:
            return bytes.fromhex(got["data"])
        except (KeyError, TypeError, ValueError):
            raise TargetError(f"{self.name}: the agent's read answer has no hex data: {got!r}") from None

    def app_read_end(self, key: FourTuple) -> ReadEnd:
        """A read whose answer says ``eof``, or whose failure names ``ECONNRESET``; an agent that says
        neither cannot show how the stream ended (:class:`OptionUnsupported`)."""
        count = 4096 if self.max_read is None else min(4096, self.max_read)
        try:
            got = self.request("read", conn=key_to_conn(key), count=count, args={"timeout": self.read_timeout})
        except AppFailed as err:
            if err.errno == "ECONNRESET":
                return "reset"
            if err.errno is None:
                raise OptionUnsupported(f"{self.name}'s agent names no errno for the failure of its read ({err}), "
                                        "so a reset cannot be told from another failure") from None
            raise AppFailed(f"the application's read failed: {err}", err.errno) from None
        eof = got.get("eof")
        if not isinstance(eof, bool):
            raise OptionUnsupported(f"{self.name}'s agent does not say whether its read met the end of the stream "
                                    '(no "eof" in its answer)')
        return "eof" if eof else "open"

    def app_write(self, key: FourTuple, data: bytes, urgent: bool = False) -> None:
        """In writes of at most ``max_write``; an urgent one in one write (its pointer follows it),
        which the agent must confirm (``"urgent": true``): one that does not know the argument sent
        ordinary data, so what the case asserts of urgent data cannot be observed there."""
        step = self.max_write or max(len(data), 1)
        if urgent and len(data) > step:
            raise OptionUnsupported(f"{self.name} writes at most {step} bytes at once, and the urgent data is {len(data)}")
        for at in range(0, max(len(data), 1), step):
            chunk = data[at: at + step]
            got = self._app("write", conn=key_to_conn(key), data=chunk.hex(), args={"urgent": True} if urgent else None)
            if urgent and got.get("urgent") is not True:
                raise OptionUnsupported(f"{self.name}'s agent does not say it sent the bytes as urgent data (no "
                                        '"urgent": true in its answer)')
            written = got.get("written")
            if written != len(chunk):
                took = written if at == 0 or not isinstance(written, int) else at + written
                raise AppFailed(f"the application's write failed: the kernel took only {took} of {len(data)} bytes")

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

    def app_getsockopt(self, where: FourTuple | int, name: str) -> int:
        """The option at its level; an agent without the op or the option answers kind ``unsupported``
        or ``agent`` for an unknown op (both: :class:`OptionUnsupported`, the value cannot be seen)."""
        target: dict[str, Any] = {"port": where} if isinstance(where, int) else {"conn": key_to_conn(where)}
        try:
            got = self.request("getsockopt", level=level_of(name), name=name, **target)
        except AppFailed as err:
            raise AppFailed(f"the application's getsockopt {name} failed: {err}", err.errno) from None
        except TargetError as err:
            if "unknown op" not in str(err):
                raise
            raise OptionUnsupported(f"{self.name}'s agent has no getsockopt") from None
        value = got.get("value")
        if isinstance(value, bool) or not isinstance(value, int):
            raise TargetError(f"{self.name}: the agent's getsockopt answer has no integer value: {got!r}")
        return value

    def _app(self, action: str, args: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """One application request; what the target's application refuses says which action it was."""
        try:
            return self.request(action, args=args, **kwargs)
        except AppFailed as err:
            raise AppFailed(f"the application's {action} failed: {err}", err.errno) from None

    def state(self, key: FourTuple) -> str | None:
        got = self.request("state", conn=key_to_conn(key)).get("state")
        if got is None:  # the agent cannot see this connection's state now (a device's best effort)
            return None
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
        transport = self.transport
        self._send(line, op)
        within = self.timeout if timeout is None else timeout
        now = time.monotonic()
        deadline = now + within
        resend = transport.resend_after
        next_send = now + resend if resend is not None else deadline
        while True:
            raw = self._receive(op, min(deadline, next_send))
            if raw is None:
                now = time.monotonic()
                if now >= deadline:
                    raise TargetError(f"{self.name}: no answer to {op!r} within {within:g} s "
                                      f"(agent {transport.who}){transport.tail()}")
                if resend is not None and now >= next_send:
                    log.debug("%s: no answer to request %d (%s) yet: sending it again", self.name, rid, op)
                    self._send(line, op)
                    resend = min(resend * 2, RESEND_MAX)
                    next_send = now + resend
                continue
            try:
                answer = decode_line(raw)
            except ProtocolError as err:
                if transport.noisy:
                    log.info("%s: %s", self.name, raw.decode(errors="replace")[:200])  # the device's console
                    continue
                raise TargetError(f"{self.name}: garbled answer to {op!r} ({err}): {raw[:200]!r}"
                                  f"{transport.tail()}") from None
            aid = answer.get("id")
            if aid == rid:
                break
            if isinstance(aid, int) and not isinstance(aid, bool) and aid < rid:
                continue  # the late (or duplicate) answer to a request that timed out
            if transport.persistent:
                log.debug("%s: passed over an answer to request %r, not ours", self.name, aid)
                continue  # an earlier session's, still on the line
            raise TargetError(f"{self.name}: answer to request {aid!r} while waiting for {rid} ({op}): {answer!r}")
        if answer.get("ok") is True:
            return answer
        message = str(answer.get("error") or "(no message)")
        if answer.get("kind") == "app":
            errno = answer.get("errno")
            raise AppFailed(message, errno if isinstance(errno, str) and errno else None)
        if answer.get("kind") == "unsupported":
            raise OptionUnsupported(message)
        raise TargetError(f"{self.name}: the agent could not {op}: {message}")

    # -- the transport -------------------------------------------------------------------------
    def close(self) -> None:
        """End the session: a process is asked to quit (and stopped if it does not, never left
        behind); a device's agent is reset and left running."""
        if self._closed:
            return
        if self.transport.persistent and self.info:  # it answered once: leave it clean for the next session
            try:
                self.request("reset", timeout=RESET_TIMEOUT)
            except (TargetError, AppFailed) as err:
                log.warning("%s: could not reset the agent on the way out: %s", self.name, err)
        self._closed = True
        self.transport.close(encode_line({"id": self._ids + 1, "op": "quit"}))

    def __enter__(self) -> AgentTarget:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The agent process's id; ``None`` for an agent this engine did not start."""
        return self.transport.proc.pid if isinstance(self.transport, ProcessTransport) else None

    @property
    def stderr_tail(self) -> list[str]:
        """The agent's last log lines: the best clue when it fails."""
        return self.transport.stderr_tail if isinstance(self.transport, ProcessTransport) else []

    def _send(self, line: bytes, op: str) -> None:
        try:
            self.transport.send(line)
        except TransportGone as gone:
            raise self._dead(gone, f"sending {op!r}") from None

    def _receive(self, op: str, until: float) -> bytes | None:
        try:
            return self.transport.receive(until)
        except TransportGone as gone:
            raise self._dead(gone, f"waiting for the answer to {op!r}") from None

    def _dead(self, gone: TransportGone, doing: str) -> TargetError:
        """The agent is gone: say so with what happened to it and its last words."""
        self._closed = True
        tail = self.transport.tail()
        self.transport.close(b"")
        return TargetError(f"{self.name}: the agent ({self.transport.who}) {gone.how} while {doing}{tail}")
