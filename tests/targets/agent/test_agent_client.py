"""AgentTarget, the engine's side, against scripted agents: the answers, and every way an agent fails."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tcpconform.targets.agent.client import AgentTarget
from tcpconform.targets.base import AppFailed, Capability, Target, TargetError
from tcpconform.tcp.segment import FourTuple

FAKE = Path(__file__).with_name("fake_agent.py")
KEY = FourTuple("198.18.200.1", 1, "198.18.200.2", 8000)
NOBODY = FourTuple("198.18.200.1", 2, "198.18.200.2", 8000)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def fake(mode: str, spawned: list[int], **kw: float) -> AgentTarget:
    target = AgentTarget([sys.executable, str(FAKE), mode], f"fake {mode}", "198.18.200.2", 8000, **kw)
    spawned.append(target.pid)
    return target


def test_a_served_agent_is_a_target(spawned_agents: list[int]) -> None:
    with fake("serve", spawned_agents) as target:
        checked: Target = target  # the engine's protocol, statically
        assert checked.capabilities == Capability.APP | Capability.STATE
        assert target.info["agent"] == "fake"
        target.app_listen(KEY)
        assert target.app_read(KEY, 2) == b"ab"
        target.app_write(KEY, b"hello")
        target.app_shutdown(KEY)
        target.app_close(KEY)
        assert target.state(KEY) == "ESTABLISHED"
        events = target.drain_events()
        assert [(k, e.kind) for k, e in events] == [(KEY, "app"), (KEY, "state")]  # the listener's, to its case
        assert events[1][1].new == "ESTABLISHED" and abs(events[1][1].at - time.time()) < 5
        assert target.drain_events() == []
        target.forget(KEY)
    assert gone(target.pid)


def test_a_slow_read_answer_is_waited_for_and_the_agent_waits_only_briefly(spawned_agents: list[int]) -> None:
    """The agent's read waits at most READ_TIMEOUT for data; its answer may take longer (a loaded
    machine): that is not a dead agent."""
    with fake("slow-read", spawned_agents) as target:
        assert target.app_read(KEY, 10) == b"0.005"


def test_app_errors_fail_the_step_agent_errors_do_not(spawned_agents: list[int]) -> None:
    with fake("serve", spawned_agents) as target:
        with pytest.raises(AppFailed, match=r"the application's read failed: no connection from 198\.18\.200\.1:2"):
            target.app_read(NOBODY, 1)
        with pytest.raises(AppFailed, match="took only 5 of 6 bytes"):
            target.app_write(KEY, b"short!")
        with pytest.raises(TargetError) as err:
            target.setsockopt(KEY, "IPPROTO_TCP", "TCP_NODELAY", 1)
        assert not isinstance(err.value, AppFailed)
        assert "setsockopt failed inside the agent: RuntimeError: setsockopt is not scripted" in str(err.value)
        with pytest.raises(TargetError, match="unknown op 'bogus'"):
            target.request("bogus")
        assert target.state(KEY) == "ESTABLISHED"  # still serving after all that


def test_an_agent_that_cannot_start_is_a_target_error_with_its_words(spawned_agents: list[int]) -> None:
    with pytest.raises(TargetError) as err:
        fake("no-hello", spawned_agents)
    text = str(err.value)
    assert "exited with status 2" in text and "cannot start: no such namespace" in text


def test_a_missing_program_is_a_target_error() -> None:
    with pytest.raises(TargetError, match="cannot start the agent"):
        AgentTarget(["/nonexistent/tcpc-agent"], "missing", "198.18.200.2", 8000)


def test_an_agent_dying_mid_run_is_a_target_error(spawned_agents: list[int]) -> None:
    target = fake("exit", spawned_agents)
    with pytest.raises(TargetError) as err:
        target.state(KEY)
    text = str(err.value)
    assert "exited with status 3" in text and "giving up on state" in text
    with pytest.raises(TargetError, match="closed"):
        target.state(KEY)
    target.close()
    assert gone(target.pid)


def test_a_killed_agent_is_a_target_error(spawned_agents: list[int]) -> None:
    target = fake("serve", spawned_agents)
    os.kill(target.pid, signal.SIGKILL)
    with pytest.raises(TargetError, match="killed by signal 9"):
        target.state(KEY)
    target.close()
    assert gone(target.pid)


def test_a_silent_agent_times_out_with_its_last_words(spawned_agents: list[int]) -> None:
    with fake("mute", spawned_agents, timeout=0.5) as target:
        start = time.monotonic()
        with pytest.raises(TargetError) as err:
            target.state(KEY)
        assert 0.4 < time.monotonic() - start < 3
        assert "no answer to 'state' within 0.5 s" in str(err.value) and "not answering" in str(err.value)
    assert gone(target.pid)


@pytest.mark.parametrize(("mode", "message"), [("garble", "garbled answer to 'state'"),
                                               ("wrong-id", "answer to request 999 while waiting for 2")])
def test_a_confused_agent_is_a_target_error(spawned_agents: list[int], mode: str, message: str) -> None:
    with fake(mode, spawned_agents) as target, pytest.raises(TargetError, match=message):
        target.state(KEY)
    assert gone(target.pid)


def test_close_stops_an_agent_that_ignores_quit(spawned_agents: list[int]) -> None:
    target = fake("stubborn", spawned_agents)
    assert target.state(KEY) == "ESTABLISHED"
    start = time.monotonic()
    target.close()
    assert gone(target.pid)
    assert time.monotonic() - start < 10
    target.close()  # twice is fine
