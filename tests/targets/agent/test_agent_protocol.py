"""The agent protocol without any agent: wire form, dispatch, the stdio loop."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from tcpconform.targets.agent.protocol import (
    AppError,
    BadRequest,
    ProtocolError,
    conn_to_key,
    decode_line,
    dispatch,
    encode_line,
    handle_line,
    key_to_conn,
    make_event,
    parse_endpoint,
    parse_event,
    serve_stdio,
)
from tcpconform.tcp.segment import FourTuple

KEY = FourTuple("198.18.0.1", 40000, "198.18.0.2", 8000)
CONN = {"tester": "198.18.0.1:40000", "target": "198.18.0.2:8000"}


class FakeHandler:
    """Records every call; ``fail`` makes the next call raise it."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail: BaseException | None = None

    def _call(self, *call: Any) -> None:
        self.calls.append(call)
        if self.fail is not None:
            raise self.fail

    def hello(self) -> dict[str, Any]:
        self._call("hello")
        return {"agent": "fake", "capabilities": ["app"]}

    def listen(self, port: int, ip: str | None) -> None:
        self._call("listen", port, ip)

    def read(self, key: FourTuple, count: int, timeout: float) -> bytes:
        self._call("read", key, count, timeout)
        return b"\x00\xffab"[:count]

    def write(self, key: FourTuple, data: bytes) -> int:
        self._call("write", key, data)
        return len(data)

    def shutdown(self, key: FourTuple) -> None:
        self._call("shutdown", key)

    def close(self, key: FourTuple) -> None:
        self._call("close", key)

    def state(self, key: FourTuple) -> str:
        self._call("state", key)
        return "ESTABLISHED"

    def events(self) -> list[dict[str, Any]]:
        self._call("events")
        return [make_event(1.5, "app", "application listen", port=8000)]

    def setsockopt(self, key_or_port: FourTuple | int, level: str, name: str, value: int) -> None:
        self._call("setsockopt", key_or_port, level, name, value)

    def forget(self, key: FourTuple) -> None:
        self._call("forget", key)

    def reset(self) -> None:
        self._call("reset")


@pytest.fixture
def handler() -> FakeHandler:
    return FakeHandler()


def test_conn_and_four_tuple_round_trip() -> None:
    assert key_to_conn(KEY) == CONN
    assert conn_to_key(CONN) == KEY
    v6 = FourTuple("2001:db8::1", 1, "2001:db8::2", 65535)
    assert key_to_conn(v6) == {"tester": "[2001:db8::1]:1", "target": "[2001:db8::2]:65535"}
    assert conn_to_key(key_to_conn(v6)) == v6


@pytest.mark.parametrize("bad", [None, "198.18.0.1:1", {"tester": "198.18.0.1:1"},
                                 {"tester": "198.18.0.1", "target": "198.18.0.2:8000"},
                                 {"tester": "host:1", "target": "198.18.0.2:8000"},
                                 {"tester": "198.18.0.1:70000", "target": "198.18.0.2:8000"}])
def test_malformed_conn_is_a_protocol_error(bad: object) -> None:
    with pytest.raises(ProtocolError):
        conn_to_key(bad)


def test_endpoint_normalises_the_address() -> None:
    assert parse_endpoint("[2001:DB8::0:1]:80") == ("2001:db8::1", 80)


def test_lines_round_trip_and_reject_non_objects() -> None:
    line = encode_line({"id": 1, "op": "hello"})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode_line(line) == {"id": 1, "op": "hello"}
    with pytest.raises(ProtocolError):
        decode_line(b"[1, 2]")
    with pytest.raises(ProtocolError):
        decode_line(b"{not json")


def test_ok_responses_carry_the_results(handler: FakeHandler) -> None:
    assert dispatch(handler, {"id": 1, "op": "hello"}) == {
        "id": 1, "ok": True, "agent": "fake", "capabilities": ["app"], "version": "", "clock": "realtime", "detail": ""}
    assert dispatch(handler, {"id": 2, "op": "read", "conn": CONN, "count": 3, "timeout": 0.05}) == {
        "id": 2, "ok": True, "data": "00ff61"}
    assert dispatch(handler, {"id": 3, "op": "write", "conn": CONN, "data": "0aff"}) == {"id": 3, "ok": True, "written": 2}
    assert dispatch(handler, {"id": 4, "op": "state", "conn": CONN}) == {"id": 4, "ok": True, "state": "ESTABLISHED"}
    assert dispatch(handler, {"id": 5, "op": "listen", "port": 8000}) == {"id": 5, "ok": True}
    assert dispatch(handler, {"id": "x", "op": "setsockopt", "port": 8000, "level": "IPPROTO_TCP",
                              "name": "TCP_NODELAY", "value": 1}) == {"id": "x", "ok": True}
    events = dispatch(handler, {"id": 6, "op": "events"})["events"]
    assert events == [{"at": 1.5, "conn": None, "kind": "app", "detail": "application listen", "old": None,
                       "new": None, "port": 8000}]
    assert handler.calls[1] == ("read", KEY, 3, 0.05)
    assert handler.calls[2] == ("write", KEY, b"\x0a\xff")
    assert ("listen", 8000, None) in handler.calls
    assert ("setsockopt", 8000, "IPPROTO_TCP", "TCP_NODELAY", 1) in handler.calls


@pytest.mark.parametrize("op", ["shutdown", "close", "forget"])
def test_connection_ops_reach_the_handler(handler: FakeHandler, op: str) -> None:
    assert dispatch(handler, {"id": 1, "op": op, "conn": CONN}) == {"id": 1, "ok": True}
    assert handler.calls == [(op, KEY)]


def test_app_error_is_kind_app(handler: FakeHandler) -> None:
    handler.fail = AppError("no connection from 198.18.0.1:40000")
    assert dispatch(handler, {"id": 7, "op": "read", "conn": CONN, "count": 1}) == {
        "id": 7, "ok": False, "kind": "app", "error": "no connection from 198.18.0.1:40000"}


def test_internal_failure_is_kind_agent_and_never_raises(handler: FakeHandler) -> None:
    handler.fail = RuntimeError("boom")
    response = dispatch(handler, {"id": 8, "op": "state", "conn": CONN})
    assert response == {"id": 8, "ok": False, "kind": "agent",
                        "error": "state failed inside the agent: RuntimeError: boom"}
    handler.fail = BadRequest("no such option")
    assert dispatch(handler, {"id": 9, "op": "reset"})["error"] == "bad request: no such option"


@pytest.mark.parametrize(("request_", "message"), [
    ({"id": 1, "op": "frobnicate"}, "unknown op 'frobnicate'"),
    ({"op": "hello"}, 'needs an "id"'),
    ({"id": 1}, 'needs an "op"'),
    ({"id": 1, "op": "read", "count": 1}, '"read" needs "conn"'),
    ({"id": 1, "op": "read", "conn": CONN, "count": -1}, '"count" is an integer'),
    ({"id": 1, "op": "read", "conn": CONN, "count": True}, '"count" is an integer'),
    ({"id": 1, "op": "read", "conn": CONN, "count": 1, "timeout": "soon"}, '"timeout" is a number'),
    ({"id": 1, "op": "write", "conn": CONN, "data": "xyz"}, '"data" is a hex string'),
    ({"id": 1, "op": "listen", "port": 0}, '"port" is an integer in 1..65535'),
    ({"id": 1, "op": "listen", "port": 80, "ip": "nowhere"}, '"ip" is an IP address'),
    ({"id": 1, "op": "state", "conn": {"tester": "x"}}, '"conn" is'),
    ({"id": 1, "op": "setsockopt", "level": "SOL_SOCKET", "name": "SO_RCVBUF", "value": 1}, 'either "conn" or "port"'),
    ([1, 2], "a request is a JSON object"),
])
def test_bad_requests_are_kind_agent(handler: FakeHandler, request_: object, message: str) -> None:
    response = dispatch(handler, request_)
    assert response["ok"] is False and response["kind"] == "agent"
    assert response["error"].startswith("bad request: ") and message in response["error"]
    assert handler.calls == []


def test_handle_line_survives_garbage_and_reports_quit(handler: FakeHandler) -> None:
    out, quitting = handle_line(handler, b"}{")
    assert json.loads(out) == {"id": None, "ok": False, "kind": "agent",
                               "error": "bad request: not JSON: Expecting value: line 1 column 1 (char 0)"}
    assert quitting is False
    out, quitting = handle_line(handler, b'{"id": 3, "op": "quit"}\n')
    assert json.loads(out) == {"id": 3, "ok": True} and quitting is True


def test_serve_stdio_answers_in_order_and_stops_at_quit(handler: FakeHandler) -> None:
    stdin = io.BytesIO(b'{"id":1,"op":"hello"}\n\n{"id":2,"op":"state","conn":%s}\n{"id":3,"op":"quit"}\n'
                       b'{"id":4,"op":"hello"}\n' % json.dumps(CONN).encode())
    stdout = io.BytesIO()
    serve_stdio(handler, stdin, stdout)
    answers = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert [a["id"] for a in answers] == [1, 2, 3]
    assert answers[1]["state"] == "ESTABLISHED"


def test_serve_stdio_stops_at_end_of_input_on_text_streams(handler: FakeHandler) -> None:
    stdout = io.StringIO()
    serve_stdio(handler, io.StringIO('{"id":1,"op":"reset"}\n'), stdout)
    assert json.loads(stdout.getvalue()) == {"id": 1, "ok": True}
    assert handler.calls == [("reset",)]


def test_events_parse_back_to_target_events() -> None:
    key, port, event = parse_event(make_event(2.0, "state", "CLOSE_WAIT -> LAST_ACK", KEY, old="CLOSE_WAIT",
                                              new="LAST_ACK"))
    assert (key, port) == (KEY, None)
    assert (event.at, event.kind, event.old, event.new) == (2.0, "state", "CLOSE_WAIT", "LAST_ACK")
    key, port, event = parse_event(make_event(3, "app", "application listen", port=8000))
    assert (key, port, event.detail) == (None, 8000, "application listen")
    with pytest.raises(ProtocolError):
        parse_event({"kind": "app"})
