"""The reference responder on a real interface: the thin I/O adapter around the sans-I/O core.

One ``select()`` loop over the raw socket (segments in), the responder's timer, and — with an agent
channel — standard input, where the engine plays the responder's application with the target agent
protocol (``docs/agent-protocol.md``).  Everything TCP is decided by
:class:`tcpconform.responder.Responder`; this module only moves bytes and passes the time.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, Literal, TextIO

from tcpconform.errors import UsageError
from tcpconform.links.packet_socket import LinkSetupError
from tcpconform.links.rawsock import RawEndpoint
from tcpconform.responder import AppConfig, Responder, ResponderConfig, ResponderError, UnsupportedOption
from tcpconform.targets.agent.protocol import make_event
from tcpconform.targets.reference import event_connection, target_event
from tcpconform.tcp.segment import FourTuple
from tcpconform.wire.ip import claims_more


class ResponderAgent:
    """The agent protocol's handler for a responder in agent mode (keys are the tester's view)."""

    def __init__(self, responder: Responder, clock: Callable[[], float] = time.time) -> None:
        self.responder = responder
        self.clock = clock

    def _app(self, call: Callable[..., Any], *args: Any) -> Any:
        from tcpconform.targets.agent.protocol import AppError

        try:
            return call(*args)
        except ResponderError as err:
            raise AppError(str(err)) from None

    def hello(self) -> dict[str, Any]:
        faults = sorted(self.responder.config.faults)
        return {"agent": "reference", "version": _version(), "capabilities": ["app", "state"],
                "clock": "realtime", "detail": f"faults: {', '.join(faults) or 'none'}"}

    def listen(self, port: int, ip: str | None = None) -> None:
        if port not in self.responder.listening:
            self.responder.app_listen(port, self.clock())

    def unlisten(self, port: int, ip: str | None = None) -> None:
        self._app(self.responder.app_unlisten, port, self.clock())

    def connect(self, key: FourTuple, bind: str = "address", route: tuple[str, ...] = ()) -> None:
        self._app(self.responder.app_connect, key.reversed(), self.clock(), bind == "address", route)

    def read(self, key: FourTuple, count: int, timeout: float) -> tuple[bytes, bool]:
        """What is there, and ``eof`` as the responder's application is told it (:mod:`.peerclose`);
        a RST's reset is this read's failure, ``ECONNRESET``."""
        from tcpconform.targets.agent.protocol import AppError

        rkey = key.reversed()
        end = self._app(self.responder.read_end, rkey, self.clock())
        if end == "reset":
            raise AppError("Connection reset by peer", "ECONNRESET")
        if rkey not in self.responder.connections():  # gone, and told as an end of file (fault rst-as-eof)
            return b"", True
        data: bytes = self._app(self.responder.app_read, rkey, count, self.clock())
        return data, self.responder.read_end(rkey, self.clock()) == "eof"

    def write(self, key: FourTuple, data: bytes, urgent: bool = False) -> int:
        try:
            self.responder.app_write(key.reversed(), data, self.clock(), urgent=urgent)
        except ResponderError as err:
            from tcpconform.targets.agent.protocol import AppError

            raise AppError(str(err)) from None
        return len(data)

    def shutdown(self, key: FourTuple) -> None:
        self._app(self.responder.app_shutdown, key.reversed(), self.clock())

    def close(self, key: FourTuple) -> None:
        self._app(self.responder.app_close, key.reversed(), self.clock())

    def state(self, key: FourTuple) -> str:
        return str(self.responder.state(key.reversed()))

    def events(self) -> list[dict[str, Any]]:
        out = []
        for ev in self.responder.next_events():
            te, key = target_event(ev), event_connection(ev)
            port = ev.key.sport if key is None else None  # a listener's: which one
            out.append(make_event(te.at, te.kind, te.detail, key, port=port, old=te.old, new=te.new))
        return out

    def setsockopt(self, key_or_port: Any, level: str, name: str, value: int) -> None:
        from tcpconform.targets.agent.protocol import Unsupported

        where = key_or_port if isinstance(key_or_port, int) else key_or_port.reversed()
        try:
            self._app(self.responder.app_setsockopt, where, name, value, self.clock())
        except UnsupportedOption as err:
            raise Unsupported(str(err)) from None

    def getsockopt(self, key_or_port: Any, level: str, name: str) -> int:
        from tcpconform.targets.agent.protocol import Unsupported

        where = key_or_port if isinstance(key_or_port, int) else key_or_port.reversed()
        try:
            value: int = self._app(self.responder.app_getsockopt, where, name)
        except UnsupportedOption as err:
            raise Unsupported(str(err)) from None
        return value

    def forget(self, key: FourTuple) -> None:
        self.responder.forget(key.reversed())

    def reset(self) -> None:
        self.responder.reset(self.clock())


def _version() -> str:
    from tcpconform import __version__

    return __version__


def serve(iface: str, ip: str, port: int, faults: frozenset[str], *, netns: str | None = None,
          agent_stdio: bool = False, isn: int | None = None, log: TextIO = sys.stderr, alt_ip: str | None = None) -> int:
    """Serve until interrupted (or, with an agent channel, until it closes); returns an exit code.
    ``alt_ip``: a second address served as well (a multihomed host)."""
    mode: Literal["agent", "scripted"] = "agent" if agent_stdio else "scripted"
    try:
        config = ResponderConfig(ip=ip, port=port, faults=faults, app=AppConfig(mode=mode), isn=isn, alt_ip=alt_ip)
    except ValueError as err:
        raise UsageError(f"--alt-ip {alt_ip}: {err}") from None
    responder = Responder(config)
    endpoint = RawEndpoint(iface, ip, netns=netns, icmp=True, also=alt_ip)
    agent = ResponderAgent(responder)
    stop = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    print(f"tcpconform responder: {ip}:{port} on {iface} ({endpoint.mac}), {mode} application, "
          f"faults: {', '.join(sorted(faults)) or 'none'}", file=log, flush=True)
    stdin_fd = sys.stdin.fileno() if agent_stdio else None
    buf = b""
    try:
        while not stop:
            timer = responder.get_timer()
            timeout = 0.5 if timer is None else max(0.0, min(0.5, timer - time.time()))
            fds = [endpoint.sock] + ([stdin_fd] if stdin_fd is not None else [])
            try:
                ready, _, _ = select.select(fds, [], [], timeout)
            except InterruptedError:
                continue
            if endpoint.sock in ready:
                endpoint.poll(0)
                # in the order they arrived: an ICMP error about a SYN-ACK read in one poll with the ACK
                # after it must reach the responder first, as it did the wire (a hard error in SYN-RECEIVED)
                while endpoint.pending or endpoint.icmp_pending:
                    if endpoint.icmp_pending and (not endpoint.pending
                                                  or endpoint.icmp_pending[0][1] <= endpoint.pending[0].at):
                        error, at = endpoint.icmp_pending.popleft()
                        responder.handle_icmp(error, at)
                    else:
                        got = endpoint.pending.popleft()
                        # a checksum the frame's own IP header disproves (a length field that lies
                        # makes the pseudo-header's TCP length another), or a datagram the frame does
                        # not hold whole, is a bad segment whatever it decoded to: the responder's
                        # header check must see it so
                        bad = got.checksum == "wrong" or (got.frame is not None and claims_more(got.frame))
                        seg = got.segment.with_(chksum="bad") if bad else got.segment
                        responder.handle_segment(seg, got.at)
            if stdin_fd is not None and stdin_fd in ready:
                chunk = os.read(stdin_fd, 65536)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        response, quit_ = _answer(agent, line)
                        sys.stdout.write(json.dumps(response) + "\n")
                        sys.stdout.flush()
                        stop = stop or quit_
            timer = responder.get_timer()
            if timer is not None and timer <= time.time():
                responder.handle_timer(time.time())
            for seg in responder.segments_to_send():
                try:
                    endpoint.send(seg)
                except (OSError, LinkSetupError) as err:  # one segment lost, as a wire loses one; say so
                    why = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
                    print(f"  not sent: {seg.summary()} [{seg.key}]: {why}", file=log, flush=True)
            if not agent_stdio:
                for ev in responder.next_events():
                    print(f"  {target_event(ev).detail}  [{ev.key}]", file=log, flush=True)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        endpoint.close()
    return 0


def _answer(agent: ResponderAgent, line: bytes) -> tuple[dict[str, Any], bool]:
    from tcpconform.targets.agent.protocol import dispatch

    try:
        request = json.loads(line)
    except json.JSONDecodeError as err:
        return {"id": None, "ok": False, "kind": "agent", "error": f"not JSON: {err}"}, False
    response = dispatch(agent, request)
    return response, isinstance(request, dict) and request.get("op") == "quit"
