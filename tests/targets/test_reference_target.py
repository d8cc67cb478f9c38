"""The reference responder as a target: every member of the protocol, one rule for a listener's
events in-process and on the wire, and one set of in-process addresses."""

from __future__ import annotations

import pytest

from tcpconform.links.base import Link
from tcpconform.responder import AppConfig, Responder, ResponderConfig
from tcpconform.targets.agent.protocol import parse_event
from tcpconform.targets.agent.responder import ResponderAgent
from tcpconform.targets.base import AppFailed, Capability, TargetError
from tcpconform.targets.reference import (
    REFERENCE_IP,
    REFERENCE_IP6,
    REFERENCE_PORT,
    TESTER_IP,
    TESTER_IP6,
    open_reference,
)
from tcpconform.targets.service import ServiceTarget
from tcpconform.tcp.payload import TARGET_SALT, TESTER_SALT
from tcpconform.tcp.segment import Flags, FourTuple, Segment


def test_the_in_process_addresses_are_the_responder_s_defaults() -> None:
    assert (ResponderConfig().ip, ResponderConfig().port) == (REFERENCE_IP, REFERENCE_PORT)
    for ipv6, (tester, target) in ((False, (TESTER_IP, REFERENCE_IP)), (True, (TESTER_IP6, REFERENCE_IP6))):
        ref = open_reference(ipv6=ipv6)
        assert (ref.link.local_ip, ref.target.ip, ref.target.port) == (tester, target, REFERENCE_PORT)
        assert isinstance(ref.link, Link)


def test_the_reference_declares_what_it_can_do() -> None:
    target = open_reference().target
    assert target.capabilities == Capability.APP | Capability.STATE
    assert target.implied == frozenset() and target.data_salt == TARGET_SALT


def test_a_listener_s_events_go_to_the_case_that_opened_it() -> None:
    ref = open_reference()
    key = FourTuple(TESTER_IP, 40000, REFERENCE_IP, REFERENCE_PORT)
    ref.target.app_listen(key)
    ref.target.app_listen(key)  # idempotent
    events = ref.target.drain_events()
    assert [(k, e.kind, e.new) for k, e in events] == [(key, "app", None), (key, "state", "LISTEN")]


def test_what_the_application_refuses_fails_the_step() -> None:
    ref = open_reference()
    key = FourTuple(TESTER_IP, 40000, REFERENCE_IP, REFERENCE_PORT)
    for call in (lambda: ref.target.app_read(key, 1), lambda: ref.target.app_write(key, b"x"),
                 lambda: ref.target.app_shutdown(key), lambda: ref.target.app_close(key)):
        with pytest.raises(AppFailed, match=r"the application's \w+ failed"):
            call()


def test_on_the_wire_a_listener_s_event_has_no_connection_and_names_its_port() -> None:
    responder = Responder(ResponderConfig(ip="2001:db8::2", port=8000, app=AppConfig(mode="agent")))
    agent = ResponderAgent(responder, clock=lambda: 1.0)
    agent.listen(8000)
    responder.handle_segment(Segment("2001:db8::1", "2001:db8::2", 40000, 8000, seq=7, flags=Flags.SYN,
                                     window=5000), 1.0)
    parsed = [parse_event(e) for e in agent.events()]
    assert [(key, port, ev.kind, ev.new) for key, port, ev in parsed] == [
        (None, 8000, "app", None), (None, 8000, "state", "LISTEN"),
        (FourTuple("2001:db8::1", 40000, "2001:db8::2", 8000), None, "state", "SYN_RCVD")]


def test_a_service_has_no_agent_and_says_so() -> None:
    echo = ServiceTarget("echo", "192.0.2.2", 7)
    key = FourTuple(TESTER_IP, 40000, "192.0.2.2", 7)
    # it takes what it is sent, and holds what it cannot send back (CLOSE_WAIT lasts)
    assert echo.capabilities == Capability.READS | Capability.KEEPS_OPEN
    assert echo.implied == {"listen", "read", "write", "close-after-fin"}
    assert echo.data_salt == TESTER_SALT and echo.name == "echo service on port 7"
    for call in (lambda: echo.app_listen(key), lambda: echo.app_read(key, 1), lambda: echo.app_write(key, b""),
                 lambda: echo.app_shutdown(key), lambda: echo.app_close(key)):
        with pytest.raises(TargetError, match="the echo service has no agent to"):
            call()
    assert echo.state(key) is None and echo.drain_events() == []
