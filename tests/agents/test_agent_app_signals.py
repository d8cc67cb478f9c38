"""What the application sends and learns beyond its bytes, through the C agent and the Linux agent,
against this host's own TCP on loopback (a plain Python socket is the tester's end): urgent data
(``write`` with ``urgent``), whose last byte the peer reads out of band; and how the peer ended the
stream (a read's ``eof`` after a FIN, ``errno`` ECONNRESET after a RST: RFC 9293 3.6, MUST-12); and
``getsockopt``, which reads an option back."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.udp_agents import free_port

from tcpconform.targets.agent.c import argv, build, compiler
from tcpconform.targets.agent.client import AgentTarget, linux_agent_argv
from tcpconform.tcp.segment import FourTuple

LO = "127.0.0.1"


@pytest.fixture(scope="module")
def c_binary(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    return build(tmp_path_factory.mktemp("c-agent")) if compiler() is not None else None


@pytest.fixture(params=["c", "linux"])
def agent(request: pytest.FixtureRequest, c_binary: Path | None) -> Iterator[AgentTarget]:
    """The C agent (over stdin/stdout) or the Linux agent, as a target on a free loopback port."""
    if request.param == "c":
        if c_binary is None:
            pytest.skip("no C compiler (cc, gcc or clang)")
        command = argv(c_binary)
    else:
        command = linux_agent_argv()
    with AgentTarget(command, f"{request.param} agent", LO, free_port()) as target:
        yield target


def connect(target: AgentTarget) -> tuple[socket.socket, FourTuple]:
    """Listen through the agent, connect a plain socket: the tester's end and the connection's key."""
    target.app_listen(FourTuple("0.0.0.0", 0, LO, target.port))
    peer = socket.create_connection((LO, target.port), timeout=5)
    key = FourTuple(LO, peer.getsockname()[1], LO, target.port)
    target.app_read(key, 1)  # accepted: the application holds the connection
    return peer, key


def test_an_urgent_write_sends_its_last_byte_as_the_urgent_one(agent: AgentTarget) -> None:
    peer, key = connect(agent)
    agent.app_write(key, b"abcde", urgent=True)
    deadline = time.monotonic() + 3
    while True:  # the out-of-band byte is there once the segment is
        try:
            oob = peer.recv(1, socket.MSG_OOB)
            break
        except BlockingIOError:
            pass
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.01)
    assert oob == b"e"
    assert peer.recv(10) == b"abcd"  # the rest in line
    peer.close()


def read_end(agent: AgentTarget, key: FourTuple, within: float = 3.0) -> str:
    deadline = time.monotonic() + within
    while (end := agent.app_read_end(key)) == "open" and time.monotonic() < deadline:
        time.sleep(0.01)
    return end


def test_a_fin_is_the_end_of_the_stream(agent: AgentTarget) -> None:
    peer, key = connect(agent)
    peer.sendall(b"x")
    peer.shutdown(socket.SHUT_WR)
    assert read_end(agent, key) == "eof"  # the byte before the FIN is read on the way
    assert agent.app_read_end(key) == "eof"
    peer.close()


def test_a_rst_is_a_connection_reset(agent: AgentTarget) -> None:
    peer, key = connect(agent)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    peer.close()  # RST
    assert read_end(agent, key) == "reset"


def test_an_open_stream_is_neither(agent: AgentTarget) -> None:
    peer, key = connect(agent)
    assert agent.app_read_end(key) == "open"
    peer.close()


def test_getsockopt_reads_what_setsockopt_set_and_the_defaults(agent: AgentTarget) -> None:
    peer, key = connect(agent)
    assert agent.app_getsockopt(key, "TCP_KEEPIDLE") > 0  # the host's default (7200 unless changed)
    agent.app_setsockopt(key, "TCP_KEEPIDLE", 1234)
    assert agent.app_getsockopt(key, "TCP_KEEPIDLE") == 1234
    agent.app_setsockopt(key.dport, "TCP_NODELAY", 1)
    assert agent.app_getsockopt(key.dport, "TCP_NODELAY") == 1
    peer.close()


OLD_AGENT = r'''
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    out = {"id": r["id"], "ok": True}
    if r["op"] == "hello":
        out.update(agent="old", version="0", capabilities=["app"], clock="realtime", detail="")
    elif r["op"] == "read":
        out["data"] = ""
    elif r["op"] == "write":
        out["written"] = len(r["data"]) // 2
    elif r["op"] == "getsockopt":
        out = {"id": r["id"], "ok": False, "kind": "agent", "error": "bad request: unknown op 'getsockopt'"}
    elif r["op"] == "close":
        out = {"id": r["id"], "ok": False, "kind": "app", "error": "Connection reset by peer"}
    print(json.dumps(out), flush=True)
    if r["op"] == "quit":
        break
'''


def test_an_agent_that_predates_them_cannot_show_them_so_the_cases_skip() -> None:
    """An agent that ignores ``urgent``, says no ``eof``, names no ``errno`` and has no getsockopt:
    each would otherwise pass or fail on what it never observed."""
    from tcpconform.targets.base import OptionUnsupported

    key = FourTuple(LO, 40000, LO, 8000)
    with AgentTarget([sys.executable, "-c", OLD_AGENT], "old agent", LO, 8000) as old:
        with pytest.raises(OptionUnsupported, match="urgent"):
            old.app_write(key, b"abc", urgent=True)
        old.app_write(key, b"abc")  # an ordinary write is as before
        with pytest.raises(OptionUnsupported, match="eof"):
            old.app_read_end(key)
        with pytest.raises(OptionUnsupported, match="getsockopt"):
            old.app_getsockopt(key, "TCP_KEEPIDLE")
