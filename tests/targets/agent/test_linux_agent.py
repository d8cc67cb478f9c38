"""The Linux agent against the real kernel: a kernel client in the tester namespace, the agent's
server in the target namespace, and the states the kernel reports on the way through.

Where the kernel is too quick to be caught (a LAST_ACK the client ACKs at once), the test holds the
state still by taking the tester's end of the wire down, so what is asserted is what was observed.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import time

import pytest
from support.agentlab import SPAWNED, TARGET_IP, TESTER_IP, Lab, run_ip, running, wait_for

from tcpconform.targets.agent.client import AgentTarget, linux_agent_argv
from tcpconform.targets.base import AppFailed, Capability, OptionUnsupported, TargetError
from tcpconform.tcp.segment import FourTuple

PORT = 8000


def key_of(client: socket.socket) -> FourTuple:
    ip, port = client.getsockname()[:2]
    return FourTuple(ip, port, TARGET_IP, PORT)


def read_exactly(agent: AgentTarget, key: FourTuple, count: int, timeout: float = 5.0) -> bytes:
    """Poll reads as the engine does, until ``count`` bytes came."""
    got, deadline = b"", time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got += agent.app_read(key, count - len(got))
    return got


def recv_exactly(sock: socket.socket, count: int) -> bytes:
    got = b""
    while len(got) < count:
        chunk = sock.recv(count - len(got))
        if not chunk:
            break
        got += chunk
    return got


def test_hello_describes_the_kernel(linux_agent: AgentTarget) -> None:
    assert linux_agent.capabilities == Capability.APP | Capability.STATE
    assert linux_agent.info["agent"] == "linux" and linux_agent.info["clock"] == "realtime"
    assert linux_agent.info["detail"].startswith(f"Linux {os.uname().release} kernel TCP")


def test_passive_close_through_every_server_state(lab: Lab, linux_agent: AgentTarget) -> None:
    agent = linux_agent
    client = lab.socket()
    client.settimeout(5)
    client.bind((TESTER_IP, 0))
    key = key_of(client)
    agent.app_listen(key)
    assert agent.state(key) == "LISTEN"

    client.connect((TARGET_IP, PORT))
    seen = wait_for(lambda: agent.state(key), "ESTABLISHED")
    assert seen in (["ESTABLISHED"], ["SYN_RCVD", "ESTABLISHED"])  # connect() returned: the ACK is on its way

    sent = bytes(range(256)) * 4
    client.sendall(sent)
    assert read_exactly(agent, key, 1024) == sent  # all of it, in order
    reply = bytes(i * 7 % 251 for i in range(700))
    agent.app_write(key, reply)
    assert recv_exactly(client, 700) == reply

    assert agent.state(key) == "ESTABLISHED"
    client.shutdown(socket.SHUT_WR)
    assert wait_for(lambda: agent.state(key), "CLOSE_WAIT") == ["CLOSE_WAIT"]  # the FIN beats the query
    assert agent.app_read(key, 10) == b""  # end of stream

    lab.tester_link_up(False)  # the target's FIN is lost: LAST_ACK holds until the link is back
    agent.app_close(key)
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        assert agent.state(key) == "LAST_ACK"
        time.sleep(0.05)
    with pytest.raises(AppFailed, match="already closed"):
        agent.app_read(key, 1)
    lab.tester_link_up(True)  # a retransmitted FIN gets through and is ACKed
    assert wait_for(lambda: agent.state(key), "CLOSED", timeout=10) == ["LAST_ACK", "CLOSED"]
    client.close()
    assert agent.state(key) == "CLOSED"

    events = agent.drain_events()
    mine = [(e.kind, e.detail) for k, e in events if k == key]
    assert ("app", f"application listen on {TARGET_IP}:{PORT}") in mine  # the listener's, to its case
    assert ("app", "application read 1024 bytes") in mine and ("app", "application write 700 bytes") in mine
    states = [e.new for k, e in events if k == key and e.kind == "state"]
    assert states[0] == "LISTEN" and states[-4:] == ["ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED"]
    assert all(e.at <= time.time() for _, e in events)


def test_active_close_through_fin_wait_and_time_wait(lab: Lab, linux_agent: AgentTarget) -> None:
    agent = linux_agent
    agent.app_listen(FourTuple(TESTER_IP, 1, TARGET_IP, PORT))
    client = lab.connect(PORT)
    key = key_of(client)
    wait_for(lambda: agent.state(key), "ESTABLISHED")
    agent.app_shutdown(key)
    assert client.recv(1) == b""  # the target's FIN
    assert wait_for(lambda: agent.state(key), "FIN_WAIT_2")[-1] == "FIN_WAIT_2"
    agent.app_close(key)  # now an orphan: the kernel holds it, in FIN_WAIT_2 still
    assert agent.state(key) == "FIN_WAIT_2"
    client.close()
    assert wait_for(lambda: agent.state(key), "TIME_WAIT") in (["TIME_WAIT"], ["FIN_WAIT_2", "TIME_WAIT"])
    agent.forget(key)  # nothing the application can drop: TIME_WAIT is the kernel's
    assert agent.state(key) == "TIME_WAIT"


def _syn(src: str, dst: str, sport: int, dport: int, seq: int) -> bytes:
    """A bare SYN, IP header included (the kernel fills in the IP checksum)."""
    def csum(data: bytes) -> int:
        total = sum(struct.unpack(f"!{len(data) // 2}H", data))
        while total >> 16:
            total = (total & 0xFFFF) + (total >> 16)
        return ~total & 0xFFFF
    s, d = socket.inet_aton(src), socket.inet_aton(dst)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
    tcp = tcp[:16] + struct.pack("!H", csum(s + d + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, s, d)
    return ip + tcp


def test_a_half_open_connection_is_syn_rcvd_and_not_yet_the_applications(lab: Lab, linux_agent: AgentTarget) -> None:
    # A SYN from an address nobody holds: the SYN-ACK never finds its way back, so the kernel's
    # request sock (TCP_NEW_SYN_RECV) stays, retransmitting.
    agent = linux_agent
    ghost = FourTuple("198.18.200.9", 41000, TARGET_IP, PORT)
    agent.app_listen(ghost)
    assert agent.state(ghost) == "LISTEN"
    raw = lab.socket(socket.SOCK_RAW, socket.IPPROTO_RAW)
    raw.sendto(_syn(ghost.src, ghost.dst, ghost.sport, ghost.dport, 12345), (TARGET_IP, 0))
    assert wait_for(lambda: agent.state(ghost), "SYN_RCVD") == ["SYN_RCVD"]
    with pytest.raises(AppFailed, match=r"no connection from 198\.18\.200\.9:41000"):
        agent.app_read(ghost, 1)
    agent.forget(ghost)
    assert agent.state(ghost) == "SYN_RCVD"  # the kernel's, until its SYN-ACKs give up


def test_unknown_connections(linux_agent: AgentTarget) -> None:
    agent = linux_agent
    nobody = FourTuple(TESTER_IP, 40404, TARGET_IP, PORT)
    assert agent.state(nobody) == "CLOSED"
    agent.app_listen(nobody)
    agent.app_listen(nobody)  # idempotent
    assert agent.state(nobody) == "LISTEN"
    assert agent.state(nobody._replace(dport=PORT + 1)) == "CLOSED"
    calls = {"read": lambda: agent.app_read(nobody, 1), "write": lambda: agent.app_write(nobody, b"x"),
             "shutdown": lambda: agent.app_shutdown(nobody), "close": lambda: agent.app_close(nobody)}
    for action, call in calls.items():
        with pytest.raises(AppFailed, match=f"the application's {action} failed: cannot {action}: no connection"):
            call()
    agent.forget(nobody)  # nothing to forget: fine


def test_a_reset_connection_fails_the_application(lab: Lab, linux_agent: AgentTarget) -> None:
    agent = linux_agent
    agent.app_listen(FourTuple(TESTER_IP, 1, TARGET_IP, PORT))
    client = lab.connect(PORT)
    key = key_of(client)
    wait_for(lambda: agent.state(key), "ESTABLISHED")  # accepted by the application now
    client.sendall(b"last words")
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # RST, after the data
    wait_for(lambda: agent.state(key), "CLOSED")
    assert agent.app_read(key, 100) == b"last words"  # what arrived before the RST is still read
    with pytest.raises(AppFailed, match="the application's read failed: Connection reset by peer"):
        agent.app_read(key, 1)  # then the reset, once
    assert agent.app_read(key, 1) == b""  # and Linux reports it only once: then end of stream
    assert any(e.kind == "reset" for k, e in agent.drain_events() if k == key)
    agent.app_close(key)


def test_forget_drops_a_live_connection_at_once(lab: Lab, linux_agent: AgentTarget) -> None:
    agent = linux_agent
    agent.app_listen(FourTuple(TESTER_IP, 1, TARGET_IP, PORT))
    client = lab.connect(PORT)
    key = key_of(client)
    wait_for(lambda: agent.state(key), "ESTABLISHED")
    agent.forget(key)  # SO_LINGER {1, 0}: gone from the kernel at once, with a RST since it was live
    assert agent.state(key) == "LISTEN"  # forgotten: nothing left of it but the listening port
    with pytest.raises(ConnectionResetError):
        client.recv(1)
    with pytest.raises(AppFailed, match="no connection"):
        agent.app_read(key, 1)


def test_setsockopt_by_name(lab: Lab, linux_agent: AgentTarget) -> None:
    agent = linux_agent
    agent.app_listen(FourTuple(TESTER_IP, 1, TARGET_IP, PORT))
    agent.setsockopt(PORT, "IPPROTO_TCP", "TCP_NODELAY", 1)
    client = lab.connect(PORT)
    key = key_of(client)
    agent.setsockopt(key, "SOL_SOCKET", "SO_SNDBUF", 8192)
    with pytest.raises(OptionUnsupported, match="no option TCP_NOSUCH"):
        agent.setsockopt(key, "IPPROTO_TCP", "TCP_NOSUCH", 1)
    agent.app_setsockopt(key, "TCP_KEEPIDLE", 5)
    with pytest.raises(AppFailed, match="no listening socket on port 9"):
        agent.setsockopt(9, "IPPROTO_TCP", "TCP_NODELAY", 1)


def test_a_killed_agent_is_an_error_and_leaves_nothing(lab: Lab, linux_agent: AgentTarget) -> None:
    agent = linux_agent
    agent.app_listen(FourTuple(TESTER_IP, 1, TARGET_IP, PORT))
    os.kill(agent.pid, signal.SIGKILL)
    with pytest.raises(TargetError, match="killed by signal 9") as err:
        agent.state(FourTuple(TESTER_IP, 1, TARGET_IP, PORT))
    assert "linux-agent: INFO listening on" in str(err.value)  # its last words are quoted


def test_sigterm_ends_the_agent_cleanly(linux_agent: AgentTarget) -> None:
    linux_agent.app_listen(FourTuple(TESTER_IP, 1, TARGET_IP, PORT))
    os.kill(linux_agent.pid, signal.SIGTERM)
    with pytest.raises(TargetError, match="exited with status 143") as err:
        linux_agent.state(FourTuple(TESTER_IP, 1, TARGET_IP, PORT))
    assert "stopped by signal 15" in str(err.value) and "exiting" in str(err.value)


def test_close_quits_and_leaves_no_process(lab: Lab) -> None:
    with AgentTarget(linux_agent_argv(lab.target_ns), "linux agent", TARGET_IP, PORT) as agent:
        SPAWNED.append(agent.pid)
        assert run_ip("netns", "pids", lab.target_ns).stdout.split() == [str(agent.pid)]
        agent.app_listen(FourTuple(TESTER_IP, 1, TARGET_IP, PORT))
        start = time.monotonic()
    assert time.monotonic() - start < 1.5  # quit, not killed after a timeout
    assert not running(agent.pid)
    assert run_ip("netns", "pids", lab.target_ns).stdout.split() == []
    assert "exiting" in agent.stderr_tail[-1]


def test_an_agent_in_a_missing_namespace_is_a_target_error(lab: Lab) -> None:
    with pytest.raises(TargetError, match="exited with status") as err:
        AgentTarget(linux_agent_argv(lab.target_ns + "-nonexistent"), "linux agent", TARGET_IP, PORT)
    assert "netns" in str(err.value).lower() or "namespace" in str(err.value).lower()
