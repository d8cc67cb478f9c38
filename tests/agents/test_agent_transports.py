"""The agent protocol's transports: ``--agent`` specs, the refusal of a control channel on the tested
link, UDP's retransmission and duplicate handling (the Linux agent served with ``--udp``, a relay that
loses datagrams), and a serial line (a pty pair).  Loopback and ptys only: no namespace, no raw socket,
and no ``state`` request to the Linux agent (it asks the kernel over netlink)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from support.udp_agents import LossyRelay, free_port, udp_agent

from tcpconform.cli import main as cli
from tcpconform.targets.agent.client import AgentTarget, agent_env
from tcpconform.targets.agent.protocol import encode_line, handle_line
from tcpconform.targets.agent.serve import ReplayCache, serve_udp
from tcpconform.targets.agent.transport import SerialTransport, UdpTransport, check_off_the_link, parse_agent_spec
from tcpconform.targets.base import TargetError
from tcpconform.tcp.segment import FourTuple

LO = "127.0.0.1"
LINUX_UDP = [sys.executable, "-m", "tcpconform.targets.agent.linux", "--udp", f"{LO}:0"]


# -- specs -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "want"), [
    ("cmd:ssh dev 'tcpc agent'", {"kind": "cmd", "command": ("ssh", "dev", "tcpc agent")}),
    ("udp:192.0.2.9:4242", {"kind": "udp", "host": "192.0.2.9", "port": 4242}),
    ("udp:[2001:db8::9]:4242", {"kind": "udp", "host": "2001:db8::9", "port": 4242}),
    ("udp:device.local:7", {"kind": "udp", "host": "device.local", "port": 7}),
    ("serial:/dev/ttyUSB0", {"kind": "serial", "path": "/dev/ttyUSB0", "baud": None}),
    ("serial:/dev/ttyUSB0@115200", {"kind": "serial", "path": "/dev/ttyUSB0", "baud": 115200}),
])
def test_agent_specs(text: str, want: dict[str, Any]) -> None:
    spec = parse_agent_spec(text)
    assert {k: getattr(spec, k) for k in want} == want


@pytest.mark.parametrize(("text", "message"), [
    ("tcp:1.2.3.4:5", "expected cmd:COMMAND, udp:HOST:PORT"), ("udp", "expected"), ("cmd:", "needs a command"),
    ("cmd:'unclosed", "shell words"), ("udp:1.2.3.4", "udp:HOST:PORT"), ("udp:1.2.3.4:0", "1..65535"),
    ("udp::5", "udp:HOST:PORT"), ("serial:", "path"), ("serial:/dev/ttyS0@12345", "not a baud rate"),
])
def test_bad_agent_specs_say_what_is_accepted(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_agent_spec(text)


@pytest.mark.parametrize("text", ["udp:198.18.0.2:4242", "udp:[::ffff:198.18.0.2]:4242"])
def test_a_udp_agent_at_the_tested_address_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="must not cross the link under test"):
        check_off_the_link(parse_agent_spec(text), "198.18.0.2")
    check_off_the_link(parse_agent_spec(text), "198.18.0.3")
    check_off_the_link(parse_agent_spec("serial:/dev/ttyUSB0"), "198.18.0.2")


@pytest.mark.parametrize(("args", "message"), [
    (["--target", LO, "--port", "8000", "--agent", f"udp:{LO}:4242"], "must not cross the link under test"),
    (["--target", LO, "--agent", "udp:192.0.2.1:4242"], "--agent needs --port"),
    (["--agent", "udp:192.0.2.1:4242"], "--agent goes with --target"),
    (["--target", LO, "--port", "7", "--service", "echo", "--agent", "cmd:true"], "--service describes one"),
    (["--target", LO, "--port", "7", "--agent", "nope"], "expected cmd:COMMAND"),
])
def test_the_run_command_refuses_a_bad_agent_before_touching_the_wire(args: list[str], message: str) -> None:
    done = CliRunner().invoke(cli, ["run", "seed-teardown", *args])
    assert done.exit_code == 2, done.output
    assert message in done.output and "Traceback" not in done.output


# -- UDP -------------------------------------------------------------------------------------------
@pytest.fixture
def linux_udp() -> Iterator[int]:
    """The Linux agent serving UDP on loopback: its port."""
    with udp_agent(LINUX_UDP) as (_, port):
        yield port


def drive(target: AgentTarget) -> None:
    """listen, a plain socket connects, read, a write of more than one UDP datagram's data, close."""
    port = target.port
    target.app_listen(FourTuple("0.0.0.0", 0, LO, port))
    with socket.create_connection((LO, port), timeout=5) as peer:
        key = FourTuple(LO, peer.getsockname()[1], LO, port)
        peer.sendall(b"ping")
        got, deadline = b"", time.monotonic() + 3
        while len(got) < 4 and time.monotonic() < deadline:
            got += target.app_read(key, 4 - len(got))
        assert got == b"ping"
        data = os.urandom(40000)  # three writes of at most 16 KiB: each fits a datagram as hex
        target.app_write(key, data)
        back = b""
        while len(back) < len(data):
            back += peer.recv(65536)
        assert back == data
        target.app_close(key)
    details = [e.detail for _, e in target.drain_events()]
    assert details.count("application accept") == 1
    assert [d for d in details if d.startswith("application write")] == [
        "application write 16384 bytes", "application write 16384 bytes", "application write 7232 bytes"]


def test_the_linux_agent_serves_over_udp(linux_udp: int) -> None:
    with AgentTarget(UdpTransport(LO, linux_udp), "linux agent (udp)", LO, free_port()) as target:
        assert target.info["agent"] == "linux" and target.max_write == 16384
        drive(target)


@pytest.mark.parametrize("lose", ["request", "answer"])
def test_lost_datagrams_are_sent_again_and_each_request_runs_once(linux_udp: int, lose: str) -> None:
    """Every first copy is lost, of the requests or of the answers: each request is sent again, and
    a request whose answer was lost is answered from the agent's replay cache, never run twice (the
    events show one accept, one write per chunk)."""
    firsts: set[bytes] = set()

    def drop(direction: str, data: bytes) -> bool:
        if direction != lose or data in firsts:
            return False
        firsts.add(data)
        return True

    relay = LossyRelay(linux_udp, drop)
    try:
        with AgentTarget(UdpTransport(LO, relay.port), "linux agent (lossy udp)", LO, free_port()) as target:
            drive(target)
    finally:
        relay.close()
    requests = [json.loads(d) for direction, d, _ in relay.seen if direction == "request"]
    ids = [r["id"] for r in requests]
    assert len(ids) >= 2 * len(set(ids)) - 1 and ids == sorted(ids)  # each sent twice, in order


def test_no_answer_over_udp_is_a_timeout_that_says_nobody_is_there() -> None:
    port = free_port(socket.SOCK_DGRAM)
    start = time.monotonic()
    with pytest.raises(TargetError, match=r"no answer to 'hello' within 1 s \(agent udp 127\.0\.0\.1:\d+\).*unreachable"):
        AgentTarget(UdpTransport(LO, port), "nobody", LO, 1, timeout=1.0)
    assert time.monotonic() - start < 3


class Counting:
    """A handler that counts what it runs (the replay cache must keep it from running a duplicate)."""

    def __init__(self) -> None:
        self.writes = 0

    def hello(self) -> dict[str, Any]:
        return {"agent": "counting", "capabilities": ["app"]}

    def write(self, key: FourTuple, data: bytes) -> int:
        self.writes += 1
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return lambda *a: None


def test_the_replay_cache_answers_the_same_request_again_and_runs_a_new_one() -> None:
    handler = Counting()
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind((LO, 0))
    thread = threading.Thread(target=serve_udp, args=(handler, server, ReplayCache(slots=2)), daemon=True)
    thread.start()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.connect(server.getsockname())
    client.settimeout(5)
    conn = {"tester": "192.0.2.1:1", "target": "192.0.2.2:2"}

    def ask(message: dict[str, Any]) -> bytes:
        client.send(encode_line(message))
        return client.recv(65535)

    first = ask({"id": 1, "op": "write", "conn": conn, "data": "00"})
    assert ask({"id": 1, "op": "write", "conn": conn, "data": "00"}) == first and handler.writes == 1
    ask({"id": 1, "op": "write", "conn": conn, "data": "0000"})  # same id, other bytes: a new request
    assert handler.writes == 2
    ask({"id": 2, "op": "hello"})
    ask({"id": 3, "op": "hello"})  # two slots: id 1 is forgotten
    ask({"id": 1, "op": "write", "conn": conn, "data": "0000"})
    assert handler.writes == 3
    assert json.loads(ask({"id": 4, "op": "quit"}))["ok"] is True
    thread.join(timeout=5)
    assert not thread.is_alive()
    client.close()
    server.close()


# -- serial ----------------------------------------------------------------------------------------
@pytest.fixture
def pty_agent() -> Iterator[str]:
    """The Linux agent on a pty's master side, as a device's agent on its UART: the slave's path."""
    master, slave = os.openpty()
    path = os.ttyname(slave)
    proc = subprocess.Popen([sys.executable, "-m", "tcpconform.targets.agent.linux"], stdin=master, stdout=master,
                            stderr=subprocess.DEVNULL, env=agent_env(), start_new_session=True)
    os.close(master)
    try:
        yield path
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        os.close(slave)


def test_the_serial_transport_over_a_pty(pty_agent: str) -> None:
    with AgentTarget(SerialTransport(pty_agent, 115200), "linux agent (serial)", LO, free_port()) as target:
        assert target.info["agent"] == "linux" and target.transport.who == f"serial {pty_agent} at 115200 baud"
        drive_small(target)


def drive_small(target: AgentTarget) -> None:
    port = target.port
    target.app_listen(FourTuple("0.0.0.0", 0, LO, port))
    with socket.create_connection((LO, port), timeout=5) as peer:
        key = FourTuple(LO, peer.getsockname()[1], LO, port)
        target.app_write(key, b"\n\r\x00" * 700)  # bytes a tty would translate in cooked mode
        back = b""
        while len(back) < 2100:
            back += peer.recv(65536)
        assert back == b"\n\r\x00" * 700


def test_console_output_on_the_serial_line_is_passed_over() -> None:
    """A device's boot log on the same UART: lines that are not JSON are skipped, not an error."""
    master, slave = os.openpty()
    tty.setraw(slave)  # a UART has no line discipline echoing what the device writes

    def device() -> None:
        os.write(master, b"U-Boot 2024.01\r\nbooting...\r\n")
        buf = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                out, _ = handle_line(Counting(), line)
                try:
                    os.write(master, b"[  1.234] log line\r\n" + out)
                except OSError:
                    return

    thread = threading.Thread(target=device, daemon=True)
    thread.start()
    time.sleep(0.1)  # the boot log is on the line before the engine opens it
    transport = SerialTransport(os.ttyname(slave))
    try:
        with AgentTarget(transport, "noisy device", LO, 1) as target:
            assert target.info["agent"] == "counting"
    finally:
        # The slave closed, the device's read ends (EIO); only then the master: a thread still reading
        # a closed fd's number would read whatever file is opened next under it.
        os.close(slave)
        thread.join(timeout=5)
        if not thread.is_alive():
            os.close(master)
    assert not thread.is_alive(), "the device's thread still reads the master"


def test_a_path_that_is_no_tty_is_refused(tmp_path: Any) -> None:
    plain = tmp_path / "plain"
    plain.write_text("")
    with pytest.raises(OSError, match="not a tty"):
        SerialTransport(str(plain))
