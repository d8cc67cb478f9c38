"""A remote echo service addressed from a host whose kernel owns the tester's address (host mode).

The kernel would answer the target's SYN-ACKs with RSTs; the run suppresses them with a narrow
firewall rule and must remove it on every exit path: a normal end, Ctrl-C, and — after ``kill -9`` —
``tcpconform cleanup``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.wirelab import needs_root

pytestmark = needs_root

ECHO = r"""
import socket, threading, sys
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], 7)); srv.listen(16)
def serve(c):
    with c:
        while True:
            data = c.recv(65536)
            if not data:
                return
            c.sendall(data)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

SLOW_CASE = """
id: host-mode-slow
title: a handshake, then a long wait (to be interrupted)
requirements: [{id: r, ref: RFC 9293 3.5, level: MUST}]
no_fault: used only to interrupt a run while its firewall rule is in place
steps:
  - send: "S 0:0(0) win 5000 <mss 512>"
  - expect: "S. 0:0(0) ack 1"
  - wait: 30s
"""


def _tables(ns: str) -> str:
    return subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "tables"], capture_output=True, text=True).stdout


@pytest.fixture
def host(lab) -> Iterator[tuple[object, str]]:  # type: ignore[no-untyped-def]
    """The lab with the tester's address owned by the tester namespace's kernel, and an echo service."""
    from tcpconform.lab.lab import lab_up
    from tcpconform.lab.netns import ns_argv

    lab = lab_up(lab.name)  # a test here runs 'tcpconform cleanup', which removes every lab: rebuild it
    host_ip = lab.tester_ip.rsplit(".", 1)[0] + ".5"
    subprocess.run(["ip", "-n", lab.tester_ns, "addr", "add", f"{host_ip}/24", "dev", lab.tester_if], check=True)
    echo = subprocess.Popen(ns_argv(lab.target_ns, [sys.executable, "-c", ECHO, lab.linux_ip]))
    time.sleep(0.3)
    try:
        yield lab, host_ip
    finally:
        echo.kill()
        echo.wait()
        subprocess.run(["ip", "-n", lab.tester_ns, "addr", "del", f"{host_ip}/24", "dev", lab.tester_if])


def _run_argv(lab, *extra: str) -> list[str]:  # type: ignore[no-untyped-def]
    from tcpconform.lab.netns import ns_argv

    return ns_argv(lab.tester_ns, [sys.executable, "-m", "tcpconform.cli", "run", "--target", lab.linux_ip,
                                   "--port", "7", "--iface", lab.tester_if, *extra])


def test_echo_service_in_host_mode_passes_with_kernel_rsts_suppressed(host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lab, host_ip = host
    done = subprocess.run(_run_argv(lab, "seed-handshake", "seed-cumulative-ack", "data-out-of-order",
                                    "seed-teardown", "teardown-active-close", "--report-dir", str(tmp_path)),
                          capture_output=True, text=True, timeout=60)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "nftables rule" in out  # the run says which mode it used
    results = json.loads((tmp_path / "results.json").read_text())
    verdicts = {c["id"]: c["verdict"] for c in results["cases"]}
    assert verdicts["seed-handshake"] == "pass"
    assert verdicts["seed-cumulative-ack"] == "pass"
    assert verdicts["data-out-of-order"] == "pass"
    assert verdicts["seed-teardown"] == "pass"  # CLOSE_WAIT lasts: the echo holds a byte the closed window keeps back
    assert verdicts["teardown-active-close"] == "skip"  # needs the target to close first: an echo never does
    assert results["run"]["tester_address"] == host_ip
    assert "tcpc" not in _tables(lab.tester_ns)


def test_ctrl_c_removes_the_firewall_rule(host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lab, _ = host
    case = tmp_path / "slow.yaml"
    case.write_text(SLOW_CASE)
    proc = subprocess.Popen(_run_argv(lab, "--cases", str(case), "--report-dir", str(tmp_path)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_for_table(lab.tester_ns)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:  # past the case's 30 s wait: a run that missed the Ctrl-C would end by itself, and not with 130
        out, _ = proc.communicate(timeout=40)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"the run did not end within 40 s of its Ctrl-C:\n{out}") from None
    took = time.monotonic() - sent
    assert proc.returncode == 130, f"exit {proc.returncode} {took:.1f} s after the Ctrl-C (130: interrupted):\n{out}"
    assert "tcpc" not in _tables(lab.tester_ns)


def test_kill_9_then_cleanup_removes_the_firewall_rule(host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lab, _ = host
    case = tmp_path / "slow.yaml"
    case.write_text(SLOW_CASE)
    proc = subprocess.Popen(_run_argv(lab, "--cases", str(case), "--report-dir", str(tmp_path)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_table(lab.tester_ns)
    proc.kill()
    proc.wait()
    assert "tcpc" in _tables(lab.tester_ns)  # a killed run cannot clean up after itself...
    done = subprocess.run([sys.executable, "-m", "tcpconform.cli", "cleanup", "--lab", lab.name],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "tcpc" not in _tables(lab.tester_ns)  # ...which is what cleanup is for


def _wait_for_table(ns: str, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while "tcpc" not in _tables(ns):
        if time.time() > deadline:
            raise AssertionError("the run never installed its firewall rule")
        time.sleep(0.1)


def test_offloads_on_a_users_interface_are_warned_about(host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lab, _ = host
    toggle = ["ip", "netns", "exec", lab.tester_ns, "ethtool", "-K", lab.tester_if, "gro"]
    subprocess.run([*toggle, "on"], check=True, capture_output=True)
    try:
        done = subprocess.run(_run_argv(lab, "seed-handshake", "--report-dir", str(tmp_path)),
                              capture_output=True, text=True, timeout=60)
    finally:
        subprocess.run([*toggle, "off"], check=True, capture_output=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"warning: {lab.tester_if}: generic-receive-offload is on" in done.stderr
    assert json.loads((tmp_path / "results.json").read_text())["run"]["warnings"]
