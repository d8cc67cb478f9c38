"""``connect`` with ``"bind": "port"`` (RFC 9293 MUST-44): the agent binds the port alone and the
stack chooses the source address; and ``unlisten`` (MUST-41): the listener closes, what it handed
over stays.  In the C agent and the Linux agent alike, against this host's own TCP on loopback.
The request names 127.0.0.2 as the target's address; the stack, left to choose, takes 127.0.0.1
(the route's source towards 127.0.0.1), so the accepted peer shows which happened."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.udp_agents import free_port

from tcpconform.responder import Responder, ResponderConfig
from tcpconform.targets.agent.c import argv, build, compiler
from tcpconform.targets.agent.client import AgentTarget
from tcpconform.targets.agent.protocol import dispatch
from tcpconform.targets.agent.responder import ResponderAgent
from tcpconform.tcp.segment import FourTuple

LO, OTHER = "127.0.0.1", "127.0.0.2"


@pytest.fixture(scope="module", params=["c", "linux"])
def agent_argv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    if request.param == "linux":
        return [sys.executable, "-m", "tcpconform.targets.agent.linux"]
    if compiler() is None:
        pytest.skip("no C compiler (cc, gcc or clang)")
    return argv(build(tmp_path_factory.mktemp("c-agent")))


@pytest.fixture
def agent(agent_argv: list[str]) -> Iterator[AgentTarget]:
    with AgentTarget(agent_argv, "agent", LO, free_port()) as target:
        yield target


def _state(agent: AgentTarget, key: FourTuple, want: str) -> str | None:
    deadline = time.monotonic() + 3.0
    while (got := agent.state(key)) != want and time.monotonic() < deadline:
        time.sleep(0.02)
    return got


def test_a_connect_binding_the_port_alone_takes_the_source_the_stack_chooses(agent: AgentTarget) -> None:
    with socket.socket() as server:
        server.bind((LO, 0))
        server.listen()
        key = FourTuple(LO, server.getsockname()[1], OTHER, free_port())
        agent.app_connect(key, "port")
        accepted, addr = server.accept()
        with accepted:
            assert addr == (LO, key.dport)  # the port asked for, the address the stack chose
            chosen = FourTuple(LO, key.sport, LO, key.dport)  # the connection as the tester sees it
            assert _state(agent, chosen, "ESTABLISHED") == "ESTABLISHED"


def test_a_connect_binding_the_address_binds_it(agent: AgentTarget) -> None:
    with socket.socket() as server:
        server.bind((LO, 0))
        server.listen()
        key = FourTuple(LO, server.getsockname()[1], OTHER, free_port())
        agent.app_connect(key)
        accepted, addr = server.accept()
        with accepted:
            assert addr == (OTHER, key.dport)


def test_a_bind_other_than_address_or_port_is_a_bad_request() -> None:
    handler = ResponderAgent(Responder(ResponderConfig()))
    conn = {"tester": "192.0.2.1:40000", "target": "192.0.2.2:40000"}
    got = dispatch(handler, {"id": 1, "op": "connect", "conn": conn, "bind": "any"})
    assert (got["ok"], got["kind"], got["error"]) == (False, "agent", 'bad request: "bind" is "address" or "port", not \'any\'')
    assert dispatch(handler, {"id": 2, "op": "connect", "conn": conn, "bind": "port"}) == {"id": 2, "ok": True, "bind": "port"}


OLD_AGENT = """
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    out = {"id": r["id"], "ok": True}
    if r["op"] == "hello":
        out.update(agent="old", version="0", capabilities=["app", "state"], clock="realtime", detail="")
    print(json.dumps(out), flush=True)
"""


def test_an_agent_that_answers_no_bind_cannot_leave_the_address_unbound(tmp_path: Path) -> None:
    """An agent from before ``bind`` binds the address all the same and says nothing of it: the
    target says it cannot leave the address unbound, never lets the case pass on what it did not do."""
    from tcpconform.targets.base import OptionUnsupported

    script = tmp_path / "old_agent.py"
    script.write_text(OLD_AGENT)
    with AgentTarget([sys.executable, str(script)], "old agent", LO, 8000) as target:
        target.app_connect(FourTuple(LO, 1, LO, 2))  # binding the address: nothing to confirm
        with pytest.raises(OptionUnsupported, match="cannot connect without binding a local address"):
            target.app_connect(FourTuple(LO, 1, LO, 2), "port")


def test_unlisten_keeps_the_accepted_connection_and_listening_again_takes_new_ones(agent: AgentTarget) -> None:
    """``unlisten`` (RFC 9293 MUST-41's case): the listener closes, its accepted connection stays,
    and a listen on the port again succeeds with that connection ESTABLISHED."""
    from tcpconform.targets.base import AppFailed

    listen = FourTuple("0.0.0.0", 0, LO, agent.port)
    agent.app_listen(listen)
    with socket.create_connection((LO, agent.port), timeout=5) as peer:
        key = FourTuple(LO, peer.getsockname()[1], LO, agent.port)
        peer.sendall(b"one")
        deadline = time.monotonic() + 3.0
        got = b""
        while len(got) < 3 and time.monotonic() < deadline:
            got += agent.app_read(key, 3 - len(got))
        assert got == b"one"
        agent.app_unlisten(listen)
        with pytest.raises(AppFailed, match="no listening socket"):
            agent.app_unlisten(listen)
        agent.app_listen(listen)
        agent.app_write(key, b"two")
        assert peer.recv(3) == b"two"
        assert _state(agent, key, "ESTABLISHED") == "ESTABLISHED"
        with socket.create_connection((LO, agent.port), timeout=5) as again:
            again.sendall(b"x")
            assert _state(agent, FourTuple(LO, again.getsockname()[1], LO, agent.port), "ESTABLISHED") == "ESTABLISHED"


def test_the_responder_agent_unlistens_and_says_when_nothing_listens() -> None:
    handler = ResponderAgent(Responder(ResponderConfig()))
    assert dispatch(handler, {"id": 1, "op": "listen", "port": 8000}) == {"id": 1, "ok": True}
    assert dispatch(handler, {"id": 2, "op": "unlisten", "port": 8000}) == {"id": 2, "ok": True}
    got = dispatch(handler, {"id": 3, "op": "unlisten", "port": 8000})
    assert (got["ok"], got["kind"], got["error"]) == (False, "app", "no listening socket on port 8000")
    assert handler.responder.listening == frozenset()
