"""The reference agent in C, built here with ``cc -std=c99 -Wall -Wextra -Werror -O2`` and driven from
Python over stdin/stdout and over UDP on 127.0.0.1, against this host's own TCP on loopback: a plain
Python socket is the tester's end.  Loopback only: no namespace, no raw socket."""

from __future__ import annotations

import json
import re
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.udp_agents import LossyRelay, free_port, udp_agent

from tcpconform.targets.agent.c import CFLAGS, SOURCE, BuildError, argv, build, compiler
from tcpconform.targets.agent.client import AgentTarget
from tcpconform.targets.agent.transport import UdpTransport
from tcpconform.targets.base import AppFailed, Capability, OptionUnsupported, TargetError
from tcpconform.tcp.segment import FourTuple

LO = "127.0.0.1"


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if compiler() is None:
        pytest.skip("no C compiler (cc, gcc or clang): scripts/install-system-packages installs gcc")
    return build(tmp_path_factory.mktemp("c-agent"))


@pytest.fixture(params=["stdio", "udp"])
def agent(request: pytest.FixtureRequest, binary: Path) -> Iterator[AgentTarget]:
    """The C agent as a target on a free loopback port, over stdin/stdout or over UDP."""
    port = free_port()
    if request.param == "stdio":
        with AgentTarget(argv(binary), "C agent (stdio)", LO, port) as target:
            yield target
        return
    with udp_agent(argv(binary, f"{LO}:0")) as (_, ctl), AgentTarget(UdpTransport(LO, ctl), "C agent (udp)", LO,
                                                                        port) as target:
        yield target


def connect(target: AgentTarget) -> tuple[socket.socket, FourTuple]:
    """Listen through the agent, connect a plain socket: the tester's end and the connection's key."""
    target.app_listen(FourTuple("0.0.0.0", 0, LO, target.port))
    peer = socket.create_connection((LO, target.port), timeout=5)
    return peer, FourTuple(LO, peer.getsockname()[1], LO, target.port)


def state_becomes(target: AgentTarget, key: FourTuple, want: str, within: float = 3.0) -> str | None:
    deadline = time.monotonic() + within
    while True:
        got = target.state(key)
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.02)


def read_all(target: AgentTarget, key: FourTuple, count: int, within: float = 3.0) -> bytes:
    got, deadline = b"", time.monotonic() + within
    while len(got) < count and time.monotonic() < deadline:
        got += target.app_read(key, count - len(got))
    return got


def test_it_builds_clean_with_every_warning_an_error(binary: Path) -> None:
    assert binary.is_file() and "-Werror" in CFLAGS and "-std=c99" in CFLAGS
    text = SOURCE.read_text()
    assert "malloc" not in text and "calloc" not in text and "realloc" not in text  # fixed tables only


def test_a_build_failure_says_what_the_compiler_said(tmp_path: Path) -> None:
    if compiler() is None:
        pytest.skip("no C compiler")
    bad = tmp_path / "bad.c"
    bad.write_text("int main(void) { int unused; return 0; }\n")
    with pytest.raises(BuildError, match="unused"):
        build(tmp_path / "out", source=bad)


def test_hello_says_what_it_can_do(agent: AgentTarget) -> None:
    assert agent.info["agent"] == "c"
    assert agent.capabilities == (Capability.APP | Capability.STATE if sys.platform == "linux" else Capability.APP)
    assert agent.max_read == agent.max_write == 2048


def test_a_connection_through_the_server_states(agent: AgentTarget) -> None:
    peer, key = connect(agent)
    with peer:
        assert state_becomes(agent, key, "ESTABLISHED") == "ESTABLISHED"
        peer.sendall(b"hello, agent")
        assert read_all(agent, key, 12) == b"hello, agent"
        agent.app_write(key, bytes(range(256)) * 20)  # 5120 bytes: more than one write of the agent's (2048)
        got = b""
        while len(got) < 5120:
            got += peer.recv(65536)
        assert got == bytes(range(256)) * 20
        agent.app_shutdown(key)
        assert peer.recv(10) == b""  # the FIN
        assert state_becomes(agent, key, "FIN_WAIT_2") == "FIN_WAIT_2"
        peer.shutdown(socket.SHUT_WR)
        assert read_all(agent, key, 1, within=0.5) == b""  # end of stream
        # the kernel moved it to TIME_WAIT apart from the socket: the agent cannot tell, and says so
        assert state_becomes(agent, key, "never", within=0.3) is None
        agent.app_close(key)
        assert agent.state(key) is None  # closed by the application: whatever the stack keeps is unseen
    kinds = [(e.kind, e.detail) for _, e in agent.drain_events()]
    details = [d for _, d in kinds]
    assert any(d.startswith("application listen on") for d in details)
    assert "application accept" in details and "application close" in details
    assert "application read 12 bytes" in details and "application shutdown (SHUT_WR)" in details
    assert any(k == "state" and "ESTABLISHED" in d for k, d in kinds)


def test_passive_close_shows_close_wait_then_last_ack(agent: AgentTarget) -> None:
    peer, key = connect(agent)
    with peer:
        peer.shutdown(socket.SHUT_WR)
        assert state_becomes(agent, key, "CLOSE_WAIT") == "CLOSE_WAIT"
        agent.app_shutdown(key)
        assert peer.recv(10) == b""


def test_a_reset_connection_fails_the_application(agent: AgentTarget) -> None:
    peer, key = connect(agent)
    assert state_becomes(agent, key, "ESTABLISHED") == "ESTABLISHED"
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    peer.close()  # RST
    assert state_becomes(agent, key, "CLOSED") == "CLOSED"
    with pytest.raises(AppFailed, match="reset"):
        for _ in range(50):
            agent.app_read(key, 10)
            time.sleep(0.01)


def test_setsockopt_on_a_connection_and_a_listener(agent: AgentTarget) -> None:
    peer, key = connect(agent)
    with peer:
        for level, name, value in (("IPPROTO_TCP", "TCP_NODELAY", 1), ("SOL_SOCKET", "SO_KEEPALIVE", 1),
                                   ("IPPROTO_TCP", "TCP_KEEPIDLE", 30), ("IPPROTO_TCP", "TCP_KEEPINTVL", 5),
                                   ("IPPROTO_TCP", "TCP_KEEPCNT", 3), ("SOL_SOCKET", "SO_RCVBUF", 8192),
                                   ("SOL_SOCKET", "SO_SNDBUF", 8192), ("IPPROTO_IP", "IP_TOS", 0x10),
                                   ("IPPROTO_IP", "IP_TTL", 17), ("IPPROTO_TCP", "TCP_USER_TIMEOUT", 5000)):
            agent.setsockopt(key, level, name, value)
        agent.setsockopt(agent.port, "SOL_SOCKET", "SO_RCVBUF", 4096)
        with pytest.raises(OptionUnsupported, match="no socket option SOL_SOCKET SO_BOGUS"):  # the case is skipped
            agent.setsockopt(key, "SOL_SOCKET", "SO_BOGUS", 1)
        with pytest.raises(AppFailed, match="no listening socket on port 1"):
            agent.setsockopt(1, "SOL_SOCKET", "SO_RCVBUF", 4096)


def test_connect_opens_actively_and_a_failure_is_an_event_and_the_next_error(agent: AgentTarget) -> None:
    with socket.socket() as server:
        server.bind((LO, 0))
        server.listen()
        tester = FourTuple(LO, server.getsockname()[1], LO, free_port())
        agent.request("connect", conn={"tester": f"{LO}:{tester.sport}", "target": f"{LO}:{tester.dport}"})
        accepted, addr = server.accept()
        with accepted:
            assert addr == (LO, tester.dport)  # bound to the target address and port asked for
            assert state_becomes(agent, tester, "ESTABLISHED") == "ESTABLISHED"
            accepted.sendall(b"hi")
            assert read_all(agent, tester, 2) == b"hi"
        with pytest.raises(AppFailed, match="holds that connection already"):
            agent.request("connect", conn={"tester": f"{LO}:{tester.sport}", "target": f"{LO}:{tester.dport}"})
    refused = FourTuple(LO, free_port(), LO, free_port())  # nobody listens there
    agent.request("connect", conn={"tester": f"{LO}:{refused.sport}", "target": f"{LO}:{refused.dport}"})
    time.sleep(0.1)
    assert any(e.kind == "reset" and "connect failed" in e.detail for k, e in agent.drain_events() if k == refused)
    with pytest.raises(AppFailed, match="refused"):
        agent.app_read(refused, 1)


@pytest.mark.parametrize(("request_", "message"), [
    ({"op": "listen"}, 'bad request: "listen" needs "port"'),
    ({"op": "listen", "port": 70000}, "integer in 1..65535"),
    ({"op": "listen", "port": True}, '"port" is an integer'),
    ({"op": "read", "conn": {"tester": "1.2.3.4"}, "count": 1}, '"conn" is'),
    ({"op": "read", "conn": {"tester": "127.0.0.1:1", "target": "127.0.0.1:2"}, "count": 1, "timeout": -1}, '"timeout"'),
    ({"op": "write", "conn": {"tester": "127.0.0.1:1", "target": "127.0.0.1:2"}, "data": "abc"}, "hex string"),
    ({"op": "write", "conn": {"tester": "127.0.0.1:1", "target": "127.0.0.1:2"}, "data": "00" * 2049}, "at most 2048"),
    ({"op": "setsockopt", "level": "SOL_SOCKET", "name": "SO_RCVBUF", "value": 1}, 'either "conn" or "port"'),
    ({"op": "bogus"}, "unknown op 'bogus'"),
])
def test_bad_requests_are_the_agents_errors(agent: AgentTarget, request_: dict[str, object], message: str) -> None:
    args = dict(request_)
    op = str(args.pop("op"))
    with pytest.raises(TargetError, match=re.escape(message)) as err:
        agent.request(op, args=args)
    assert not isinstance(err.value, AppFailed)
    assert agent.info == agent.request("hello") | {"id": agent.info["id"]}  # still serving


def raw_exchange(binary: Path, lines: list[bytes]) -> list[dict[str, object]]:
    import subprocess

    done = subprocess.run([str(binary)], input=b"".join(lines), capture_output=True, timeout=10)
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_malformed_lines_get_an_answer_and_the_agent_goes_on(binary: Path) -> None:
    answers = raw_exchange(binary, [b"not json\n", b'{"op": "hello"}\n', b'{"id": 1, "op": 7}\n', b"[1, 2]\n",
                                    b'{"id": "x\\u0041", "op": "hello", "extra": [1, {"a": null}], "n": -1.5e3}\n',
                                    b"{" + b'"x": 1, ' * 30 + b'"id": 2}\n', b"x" * 9000 + b"\n",
                                    b'{"id": 3, "op": "quit"}\n', b'{"id": 4, "op": "hello"}\n'])
    assert [(a.get("id"), a.get("ok"), a.get("kind")) for a in answers] == [
        (None, False, "agent"), (None, False, "agent"), (1, False, "agent"), (None, False, "agent"),
        ("xA", True, None), (None, False, "agent"), (None, False, "agent"), (3, True, None)]  # nothing after quit
    assert "too many fields" in str(answers[5]["error"]) and "longer than" in str(answers[6]["error"])


def test_a_duplicate_request_over_udp_is_answered_once_and_never_run_twice(binary: Path) -> None:
    port = free_port()
    with udp_agent(argv(binary, f"{LO}:0")) as (_, ctl):
        answers: dict[int, int] = {}

        def drop(direction: str, data: bytes) -> bool:  # every first answer is lost: each request comes twice
            if direction != "answer":
                return False
            rid = json.loads(data)["id"]
            answers[rid] = answers.get(rid, 0) + 1
            return answers[rid] == 1

        relay = LossyRelay(ctl, drop)
        try:
            with AgentTarget(UdpTransport(LO, relay.port), "C agent (lossy)", LO, port) as target:
                peer, key = connect(target)
                with peer:
                    target.app_write(key, b"once")
                    time.sleep(0.2)
                    peer.settimeout(0.5)
                    assert peer.recv(100) == b"once"  # not "onceonce"
                    writes = [e for _, e in target.drain_events() if e.detail.startswith("application write")]
                    assert len(writes) == 1
        finally:
            relay.close()
    requests = [d for direction, d, _ in relay.seen if direction == "request"]
    assert len(requests) >= 2 * len(set(requests)) - 1  # each sent again (the last, a reset, may be cut short)
    assert all(n >= 2 for n in list(answers.values())[:-1])  # and each answered again, from the replay cache
