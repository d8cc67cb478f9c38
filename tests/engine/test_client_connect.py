"""The target as client: ``app: connect`` through every layer a run uses, in process.

The engine chooses the target's local port (the case's own source port number), so several client
cases over one link stay apart by 4-tuple; a target without an agent skips them; the agent
protocol's ``connect`` reaches the reference responder on the wire and the Linux agent (here over
loopback sockets only: no namespace, no raw socket), whose later connect failure is the error of the
next operation on the connection.
"""

from __future__ import annotations

import socket
import sys
import time

import pytest

from tcpconform.cases.load import load_cases
from tcpconform.cases.profiles import PROFILES
from tcpconform.engine.run import BASE_PORT, execute
from tcpconform.responder import AppConfig, Responder, ResponderConfig
from tcpconform.targets.agent.protocol import AppError, dispatch, key_to_conn
from tcpconform.targets.agent.responder import ResponderAgent
from tcpconform.targets.reference import open_reference
from tcpconform.targets.service import ServiceTarget
from tcpconform.tcp.segment import FourTuple
from tcpconform.tcp.states import State

CLIENT = "testcases/client"


def test_client_cases_pass_in_parallel_each_from_its_own_port() -> None:
    ref = open_reference()
    cases = load_cases([CLIENT])
    result = execute(cases, ref.link, ref.target, PROFILES["reference"], jobs=8)
    assert {c.id: c.verdict for c in result.cases} == {c.id: "pass" for c in cases}
    targets = [c.connection["target"] for c in result.cases]
    assert sorted(t.split(":")[1] for t in targets) == sorted(str(BASE_PORT + i) for i in range(len(cases)))
    second = {c.id for c in cases if c.address == "second"}  # the multihomed target's second address
    assert second and all(c.connection["target"].startswith("192.0.2.3:" if c.id in second else "192.0.2.2:")
                          for c in result.cases)
    assert result.meta.strays == []


def test_without_an_agent_a_client_case_is_skipped_not_passed() -> None:
    ref = open_reference(services=(("echo", 7),))
    target = ServiceTarget("echo", ref.target.ip, 7)
    result = execute(load_cases([CLIENT]), ref.link, target, PROFILES["reference"], health=False)
    assert {c.verdict for c in result.cases} == {"skip"}
    assert all("no agent" in (c.reason or "") for c in result.cases)


def test_connect_op_reaches_the_responder_on_the_wire() -> None:
    responder = Responder(ResponderConfig(app=AppConfig(mode="agent"), isn=100))
    agent = ResponderAgent(responder, clock=lambda: 0.0)
    key = FourTuple("192.0.2.1", 5555, "192.0.2.2", 41000)
    assert dispatch(agent, {"id": 1, "op": "connect", "conn": key_to_conn(key)}) == {"id": 1, "ok": True, "bind": "address"}
    assert [s.summary() for s in responder.segments_to_send()] == ["S 100:100(0) win 65535 <mss 1460>"]
    assert responder.state(key.reversed()) is State.SYN_SENT
    again = dispatch(agent, {"id": 2, "op": "connect", "conn": key_to_conn(key)})
    assert again["ok"] is False and again["kind"] == "app"
    bad = dispatch(agent, {"id": 3, "op": "connect"})
    assert bad["kind"] == "agent" and '"connect" needs "conn"' in bad["error"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux agent asks the Linux kernel")
def test_linux_agent_connects_and_reports_a_refused_connect_on_the_next_op() -> None:
    from tcpconform.targets.agent.linux import LinuxAgent

    agent = LinuxAgent()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        key = FourTuple("127.0.0.1", server.getsockname()[1], "127.0.0.1", _free_port())
        agent.connect(key)
        deadline = time.monotonic() + 5
        while agent.state(key) != "ESTABLISHED" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert agent.state(key) == "ESTABLISHED"
        child, peer = server.accept()
        assert peer == ("127.0.0.1", key.dport)
        assert agent.write(key, b"hello") == 5
        assert child.recv(5) == b"hello"
        child.close()
        agent.forget(key)
    refused = FourTuple("127.0.0.1", _free_port(), "127.0.0.1", _free_port())
    agent.connect(refused)
    deadline = time.monotonic() + 5
    while not any("failed" in e["detail"] for e in agent.events()) and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(AppError, match="ECONNREFUSED"):
        agent.read(refused, 1, 0.0)
    assert agent.state(refused) == "CLOSED"
    agent.reset()
