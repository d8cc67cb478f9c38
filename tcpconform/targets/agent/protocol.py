"""The target agent protocol (``docs/agent-protocol.md``): JSON lines, one request, one response.

Three layers, kept apart so that any agent can reuse the parts it needs:

* the wire form: :func:`encode_line` / :func:`decode_line`, and a connection's ``conn`` object to
  and from a :class:`~tcpconform.segment.FourTuple` (always as the *tester* sees it);
* the dispatcher: :func:`dispatch` checks a request, calls the matching method of an
  :class:`AgentHandler` and turns whatever happens into a response.  It never raises, so an agent
  with its own event loop can call it (or :func:`handle_line`) per line and never die of a bad one;
* :func:`serve_stdio`, a blocking loop for an agent that has nothing else to wait on.

Errors are sorted by whose fault they are: :class:`AppError` is the target's application failing
(kind ``app``: the step fails); :class:`Unsupported` a socket option the target does not have (kind
``unsupported``: the case is skipped); :class:`BadRequest` and any other exception are the tester's
side (kind ``agent``: the case errors).
"""

from __future__ import annotations

import io
import ipaddress
import json
import math
from collections.abc import Callable, Mapping
from typing import IO, Any, Protocol

from tcpconform.results import TargetEvent
from tcpconform.tcp.segment import FourTuple

OPS = ("hello", "listen", "unlisten", "connect", "read", "write", "shutdown", "close", "state", "events", "setsockopt",
       "getsockopt", "forget", "reset", "quit")
MAX_READ = 1 << 24
"""Largest ``count`` a read may ask for: a case reads what it sent, never this much."""


class ProtocolError(ValueError):
    """A line or message that does not follow the protocol."""


class BadRequest(ProtocolError):
    """A request the agent cannot carry out as asked (missing or malformed argument, unknown op)."""


class AppError(Exception):
    """The target's application call failed on the target (no such connection, reset, broken pipe);
    ``errno``: the error's POSIX name (``ECONNRESET``), sent with it, when there is one."""

    def __init__(self, message: str, errno: str | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class Unsupported(Exception):
    """The target has no such socket option, or refuses its value (kind ``unsupported``: the case
    cannot observe what it asserts there, and is skipped)."""


class AgentHandler(Protocol):
    """What an agent implements; :func:`dispatch` has already checked every argument.

    Connections are ``FourTuple(tester_ip, tester_port, target_ip, target_port)``.
    """

    def hello(self) -> dict[str, Any]:
        """``agent``, ``version``, ``capabilities``, ``clock``, ``detail``."""
        ...

    def listen(self, port: int, ip: str | None) -> None: ...

    def unlisten(self, port: int, ip: str | None) -> None:
        """Close the listening socket on ``ip`` (default: any) and ``port``; the connections it gave
        the application stay.  No such socket: an ``app`` error."""
        ...

    def connect(self, key: FourTuple, bind: str = "address", route: tuple[str, ...] = ()) -> None:
        """Active open from ``key``'s target address and port to its tester's, not waiting for the
        handshake; a later failure is an event, and the error of the next operation on ``key``.
        ``bind`` ``port``: bind the port alone, the stack choosing the source address (MUST-44);
        ``route``: the IPv4 source route set first (MUST-51), first hop first, :class:`Unsupported`
        when the stack cannot set one."""
        ...

    def read(self, key: FourTuple, count: int, timeout: float) -> bytes | tuple[bytes, bool]:
        """The bytes read, and whether the read met the end of the stream (the peer's FIN, every octet
        before it read): an agent that can tell answers ``eof``."""
        ...

    def write(self, key: FourTuple, data: bytes, urgent: bool = False) -> int:
        """How many bytes the target took; ``urgent``: as urgent data (``MSG_OOB``), :class:`Unsupported`
        when the target cannot send urgent data."""
        ...

    def shutdown(self, key: FourTuple) -> None: ...

    def close(self, key: FourTuple) -> None: ...

    def state(self, key: FourTuple) -> str: ...

    def events(self) -> list[dict[str, Any]]:
        """Events since the last call, in wire form (see :func:`make_event`)."""
        ...

    def setsockopt(self, key_or_port: FourTuple | int, level: str, name: str, value: int) -> None: ...

    def getsockopt(self, key_or_port: FourTuple | int, level: str, name: str) -> int:
        """The option's value; :class:`Unsupported` when the target has no such option."""
        ...

    def forget(self, key: FourTuple) -> None: ...

    def reset(self) -> None: ...


# -- wire form -------------------------------------------------------------------------------------
def encode_line(message: Mapping[str, Any]) -> bytes:
    """One message as one line of compact JSON (never a NaN, never a bare newline inside)."""
    return (json.dumps(message, separators=(",", ":"), allow_nan=False) + "\n").encode()


def decode_line(line: bytes | str) -> dict[str, Any]:
    """One line back into a message; :class:`ProtocolError` if it is not a JSON object."""
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError) as err:
        raise ProtocolError(f"not JSON: {err}") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"a message is a JSON object, not {type(message).__name__}")
    return message


def format_endpoint(ip: str, port: int) -> str:
    """``198.18.0.1:40000``; an IPv6 address in brackets, so the last colon always splits."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def parse_endpoint(text: object) -> tuple[str, int]:
    if not isinstance(text, str) or ":" not in text:
        raise ProtocolError(f"an endpoint is 'ip:port', not {text!r}")
    host, _, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ip = str(ipaddress.ip_address(host))
        port = int(port_text)
    except ValueError:
        raise ProtocolError(f"an endpoint is 'ip:port', not {text!r}") from None
    if not 0 <= port <= 65535:
        raise ProtocolError(f"port out of range in {text!r}")
    return ip, port


def key_to_conn(key: FourTuple) -> dict[str, str]:
    """A connection (tester first) in wire form."""
    return {"tester": format_endpoint(key.src, key.sport), "target": format_endpoint(key.dst, key.dport)}


def conn_to_key(conn: object) -> FourTuple:
    if not isinstance(conn, Mapping) or "tester" not in conn or "target" not in conn:
        raise ProtocolError(f'"conn" is {{"tester": "ip:port", "target": "ip:port"}}, not {conn!r}')
    tester, target = parse_endpoint(conn["tester"]), parse_endpoint(conn["target"])
    return FourTuple(tester[0], tester[1], target[0], target[1])


def make_event(at: float, kind: str, detail: str, key: FourTuple | None = None, *, port: int | None = None,
               old: str | None = None, new: str | None = None) -> dict[str, Any]:
    """An event in wire form.  An event of a listening socket has no connection: ``conn`` is null and
    ``port`` says which listener."""
    event: dict[str, Any] = {"at": at, "conn": None if key is None else key_to_conn(key), "kind": kind,
                             "detail": detail, "old": old, "new": new}
    if port is not None:
        event["port"] = port
    return event


def parse_event(event: object) -> tuple[FourTuple | None, int | None, TargetEvent]:
    """An event from the wire: its connection (``None`` for a listener's), the listener's port, the event."""
    if not isinstance(event, Mapping):
        raise ProtocolError(f"an event is a JSON object, not {event!r}")
    at, kind = event.get("at"), event.get("kind")
    if isinstance(at, bool) or not isinstance(at, int | float) or not isinstance(kind, str):
        raise ProtocolError(f'an event needs "at" (number) and "kind" (string): {event!r}')
    conn = event.get("conn")
    key = None if conn is None else conn_to_key(conn)
    port = event.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
        raise ProtocolError(f'an event\'s "port" is an integer: {event!r}')
    old, new = event.get("old"), event.get("new")
    return key, port, TargetEvent(float(at), kind, str(event.get("detail", "")),
                                  None if old is None else str(old), None if new is None else str(new))


# -- arguments -------------------------------------------------------------------------------------
def _arg(request: Mapping[str, Any], name: str) -> Any:
    if name not in request:
        raise BadRequest(f'"{request.get("op")}" needs "{name}"')
    return request[name]


def _int(request: Mapping[str, Any], name: str, lo: int, hi: int) -> int:
    value = _arg(request, name)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise BadRequest(f'"{name}" is an integer in {lo}..{hi}, not {value!r}')
    return value


def _seconds(request: Mapping[str, Any], name: str, default: float) -> float:
    value = request.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise BadRequest(f'"{name}" is a number of seconds >= 0, not {value!r}')
    return float(value)


def _str(request: Mapping[str, Any], name: str) -> str:
    value = _arg(request, name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f'"{name}" is a non-empty string, not {value!r}')
    return value


def _key(request: Mapping[str, Any]) -> FourTuple:
    try:
        return conn_to_key(_arg(request, "conn"))
    except BadRequest:
        raise
    except ProtocolError as err:
        raise BadRequest(str(err)) from None


def _ip(request: Mapping[str, Any]) -> str | None:
    value = request.get("ip")
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise BadRequest(f'"ip" is an IP address, not {value!r}') from None


def _hex(request: Mapping[str, Any], name: str) -> bytes:
    value = _arg(request, name)
    try:
        if not isinstance(value, str):
            raise ValueError
        return bytes.fromhex(value)
    except ValueError:
        raise BadRequest(f'"{name}" is a hex string, not {str(value)[:40]!r}') from None


# -- dispatch --------------------------------------------------------------------------------------
def _hello(h: AgentHandler, r: Mapping[str, Any]) -> dict[str, Any]:
    info = dict(h.hello())
    info.setdefault("version", "")
    info.setdefault("capabilities", [])
    info.setdefault("clock", "realtime")
    info.setdefault("detail", "")
    return info


def _listen(h: AgentHandler, r: Mapping[str, Any]) -> dict[str, Any]:
    h.listen(_int(r, "port", 1, 65535), _ip(r))
    return {}


def _unlisten(h: AgentHandler, r: Mapping[str, Any]) -> dict[str, Any]:
    h.unlisten(_int(r, "port", 1, 65535), _ip(r))
    return {}


def _read(h: AgentHandler, r: Mapping[str, Any]) -> dict[str, Any]:
    got = h.read(_key(r), _int(r, "count", 0, MAX_READ), _seconds(r, "timeout", 0.0))
    if isinstance(got, tuple):
        return {"data": bytes(got[0]).hex(), "eof": bool(got[1])}
    return {"data": bytes(got).hex()}


def _write(h: AgentHandler, r: Mapping[str, Any]) -> dict[str, Any]:
    urgent = r.get("urgent", False)
    if not isinstance(urgent, bool):
        raise BadRequest(f'"urgent" is true or false, not {urgent!r}')
    written = int(h.write(_key(r), _hex(r, "data"), True) if urgent else h.write(_key(r), _hex(r, "data")))
    return {"written": written, "urgent": True} if urgent else {"written": written}


def _state(h: AgentHandler, r: Mapping[str, Any]) -> dict[str, Any]:
    return {"state": str(h.state(_key(r)))}


def _setsockopt(h: AgentHandler, r: Mapping[str, Any]) -> dict[str, Any]:
    if ("conn" in r) == ("port" in r):
        raise BadRequest('"setsockopt" needs either "conn" or "port"')
    target: FourTuple | int = _key(r) if "conn" in r else _int(r, "port", 1, 65535)
    value = _arg(r, "value")
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f'"value" is an integer, not {value!r}')
    h.setsockopt(target, _str(r, "level"), _str(r, "name"), value)
    return {}


def _getsockopt(h: AgentHandler, r: Mapping[str, Any]) -> dict[str, Any]:
    if ("conn" in r) == ("port" in r):
        raise BadRequest('"getsockopt" needs either "conn" or "port"')
    target: FourTuple | int = _key(r) if "conn" in r else _int(r, "port", 1, 65535)
    return {"value": int(h.getsockopt(target, _str(r, "level"), _str(r, "name")))}


def _unit(method: str) -> Callable[[AgentHandler, Mapping[str, Any]], dict[str, Any]]:
    def call(h: AgentHandler, r: Mapping[str, Any]) -> dict[str, Any]:
        getattr(h, method)(_key(r))
        return {}
    return call


def _connect(h: AgentHandler, r: Mapping[str, Any]) -> dict[str, Any]:
    bind = r.get("bind", "address")
    if bind not in ("address", "port"):
        raise BadRequest(f'"bind" is "address" or "port", not {bind!r}')
    route = r.get("route", [])
    if not isinstance(route, list) or not all(isinstance(a, str) and _ipv4(a) for a in route) or len(route) > 8:
        raise BadRequest(f'"route" is a list of at most 8 IPv4 addresses, not {route!r}')
    if route:
        h.connect(_key(r), bind, tuple(route))
        return {"bind": bind, "route": route}
    h.connect(_key(r), bind)
    return {"bind": bind}


def _ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _reset(h: AgentHandler, r: Mapping[str, Any]) -> dict[str, Any]:
    h.reset()
    return {}


_HANDLERS: dict[str, Callable[[AgentHandler, Mapping[str, Any]], dict[str, Any]]] = {
    "hello": _hello,
    "listen": _listen,
    "unlisten": _unlisten,
    "connect": _connect,
    "read": _read,
    "write": _write,
    "shutdown": _unit("shutdown"),
    "close": _unit("close"),
    "state": _state,
    "events": lambda h, r: {"events": list(h.events())},
    "setsockopt": _setsockopt,
    "getsockopt": _getsockopt,
    "forget": _unit("forget"),
    "reset": _reset,
    "quit": lambda h, r: {},  # the serving loop stops after answering
}
assert set(_HANDLERS) == set(OPS)


def error_response(rid: Any, kind: str, message: str, errno: str | None = None) -> dict[str, Any]:
    response = {"id": rid, "ok": False, "kind": kind, "error": message}
    return response if errno is None else {**response, "errno": errno}


def dispatch(handler: AgentHandler, request: object) -> dict[str, Any]:
    """The response to one request.  Never raises: every failure becomes a response of kind ``app``
    (:class:`AppError`) or ``agent`` (anything else), so one bad request cannot end an agent."""
    rid = request.get("id") if isinstance(request, Mapping) else None
    if isinstance(rid, dict | list):
        rid = None
    op = request.get("op") if isinstance(request, Mapping) else None
    try:
        if not isinstance(request, Mapping):
            raise BadRequest(f"a request is a JSON object, not {type(request).__name__}")
        if "id" not in request:
            raise BadRequest('a request needs an "id"')
        if not isinstance(op, str):
            raise BadRequest('a request needs an "op" (a string)')
        call = _HANDLERS.get(op)
        if call is None:
            raise BadRequest(f"unknown op {op!r} (known: {', '.join(OPS)})")
        result = call(handler, request)
    except AppError as err:
        return error_response(rid, "app", str(err) or type(err).__name__, err.errno)
    except Unsupported as err:
        return error_response(rid, "unsupported", str(err) or type(err).__name__)
    except BadRequest as err:
        return error_response(rid, "agent", f"bad request: {err}")
    except Exception as err:  # the agent's own bug or environment: report it, keep serving
        return error_response(rid, "agent", f"{op} failed inside the agent: {type(err).__name__}: {err}")
    response: dict[str, Any] = {"id": rid, "ok": True}
    response.update((k, v) for k, v in result.items() if k not in ("id", "ok"))
    return response


def handle_line(handler: AgentHandler, line: bytes | str) -> tuple[bytes, bool]:
    """One request line in, one response line out, and whether the agent should now exit."""
    try:
        request: object = decode_line(line)
    except ProtocolError as err:
        return encode_line(error_response(None, "agent", f"bad request: {err}")), False
    response = dispatch(handler, request)
    try:
        out = encode_line(response)
    except (TypeError, ValueError) as err:  # a handler returned something JSON cannot carry
        out = encode_line(error_response(response.get("id"), "agent", f"unencodable response: {err}"))
    quitting = isinstance(request, Mapping) and request.get("op") == "quit" and response.get("ok") is True
    return out, quitting


def serve_stdio(handler: AgentHandler, stdin: IO[bytes] | IO[str], stdout: IO[bytes] | IO[str]) -> None:
    """Answer requests line by line until ``quit`` or end of input.  Blocking: for an agent that has
    nothing else to wait on (its work happens inside the requests)."""
    text_out = isinstance(stdout, io.TextIOBase)
    while True:
        line = stdin.readline()
        if not line:
            return
        if not line.strip():
            continue
        out, quitting = handle_line(handler, line)
        stdout.write(out.decode() if text_out else out)  # type: ignore[arg-type]
        stdout.flush()
        if quitting:
            return
