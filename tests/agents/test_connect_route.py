"""``connect`` with ``"route"`` (RFC 9293 MUST-51): the agent sets the application's IPv4 source
route before connecting and answers it back, so the engine can tell an agent that knows the
argument from one that connected without it.  The C agent and the Linux agent against this host's
own TCP on loopback (the SYN leaves with the route; a kernel that drops source-routed datagrams,
accept_source_route 0, never answers it, so the connection may stay in SYN_SENT); the responder's
wire agent through :func:`dispatch`."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.udp_agents import free_port

from tcpconform.responder import Responder, ResponderConfig
from tcpconform.targets.agent.c import argv, build, compiler
from tcpconform.targets.agent.client import AgentTarget
from tcpconform.targets.agent.linux import route_option_bytes
from tcpconform.targets.agent.protocol import dispatch
from tcpconform.targets.agent.responder import ResponderAgent
from tcpconform.targets.base import OptionUnsupported, TargetError
from tcpconform.tcp.segment import FourTuple
from tcpconform.tcp.srcroute import read_route

LO = "127.0.0.1"
CONN = {"tester": "192.0.2.1:40000", "target": "192.0.2.2:40000"}


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


def test_an_agent_sets_the_route_and_says_so(agent: AgentTarget) -> None:
    with socket.socket() as server:
        server.bind((LO, 0))
        server.listen()
        key = FourTuple(LO, server.getsockname()[1], LO, free_port())
        agent.app_connect(key, "address", (LO, "198.51.100.9"))  # answered with the route: no OptionUnsupported
        assert agent.state(key) in ("SYN_SENT", "ESTABLISHED")


def test_a_route_that_is_not_ipv4_addresses_is_a_bad_request(agent: AgentTarget) -> None:
    key = FourTuple(LO, free_port(), LO, free_port())
    with pytest.raises(TargetError, match="route"):
        agent.request("connect", conn={"tester": f"{LO}:{key.sport}", "target": f"{LO}:{key.dport}"},
                      args={"route": ["not-an-address"]})


def test_the_linux_option_is_a_nop_and_a_fresh_lsrr_over_the_hops() -> None:
    option = route_option_bytes(("198.18.0.1", "198.51.100.9"))
    assert option[0] == 1 and len(option) % 4 == 0
    route = read_route(option)
    assert route is not None and (route.kind, route.pointer, route.addresses) == (131, 4, ("198.18.0.1", "198.51.100.9"))


def test_the_responders_agent_sends_its_syn_on_the_route() -> None:
    responder = Responder(ResponderConfig(ip="192.0.2.2"))
    handler = ResponderAgent(responder, clock=lambda: 0.0)
    got = dispatch(handler, {"id": 1, "op": "connect", "conn": CONN, "route": ["192.0.2.1", "198.51.100.9"]})
    assert got == {"id": 1, "ok": True, "bind": "address", "route": ["192.0.2.1", "198.51.100.9"]}
    (syn,) = responder.segments_to_send()
    assert syn.dst == "192.0.2.1" and syn.ip is not None
    route = read_route(syn.ip.options)
    assert route is not None and (route.pointer, route.addresses) == (4, ("198.51.100.9", "192.0.2.1"))
    bad = dispatch(handler, {"id": 2, "op": "connect", "conn": CONN, "route": ["2001:db8::1"]})
    assert (bad["ok"], bad["kind"]) == (False, "agent")


OLD_AGENT = """
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    out = {"id": r["id"], "ok": True}
    if r["op"] == "hello":
        out.update(agent="old", version="0", capabilities=["app", "state"], clock="realtime", detail="")
    print(json.dumps(out), flush=True)
"""


def test_an_agent_that_answers_no_route_cannot_set_one(tmp_path: Path) -> None:
    """An agent from before ``route`` connects without it and says nothing of it: the target says
    it cannot set a route, and the case is skipped, never failed on a route it never set."""
    script = tmp_path / "old_agent.py"
    script.write_text(OLD_AGENT)
    with AgentTarget([sys.executable, str(script)], "old agent", LO, 8000) as target, \
            pytest.raises(OptionUnsupported, match="cannot set a source route"):
        target.app_connect(FourTuple(LO, 1, LO, 2), "address", ("192.0.2.9",))
