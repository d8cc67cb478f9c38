"""What a user sees when a wire run cannot be set up: one clear line and exit code 2, never a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from support.wirelab import LAB, needs_root

from tcpconform.links.packet_socket import LinkSetupError
from tcpconform.links.rawsock import RawEndpoint


def test_without_raw_socket_privileges_the_message_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> socket.socket:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(socket, "socket", refuse)
    with pytest.raises(LinkSetupError) as err:
        RawEndpoint("lo", "127.0.0.1")
    text = str(err.value)
    assert "root or CAP_NET_RAW" in text and "without a target needs no privileges" in text


def _run_in_tester(lab, *args: str, tmp: Path) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    from tcpconform.lab.netns import ns_argv

    return subprocess.run(ns_argv(lab.tester_ns, [sys.executable, "-m", "tcpconform.cli", "run", "seed-handshake",
                                                  "--report-dir", str(tmp), *args]),
                          capture_output=True, text=True, timeout=60)


@needs_root
@pytest.mark.parametrize("args, message", [
    (["--target", f"198.18.{LAB}.9", "--port", "7", "--iface", f"tcpc{LAB}-t", "--source-ip", f"198.18.{LAB}.1"],
     f"198.18.{LAB}.9 does not answer ARP on tcpc{LAB}-t"),
    (["--target", f"198.18.{LAB}.2", "--port", "7", "--iface", f"tcpc{LAB}-nope"], f"no interface 'tcpc{LAB}-nope'"),
    (["--target", "198.51.100.7", "--port", "7"], "no route to 198.51.100.7"),  # nothing is sent: no route
    (["--target", f"198.18.{LAB}.2", "--port", "7", "--iface", f"tcpc{LAB}-t"], "has no IPv4 address: give --source-ip"),
], ids=["no-arp-answer", "no-interface", "no-route", "no-source-address"])  # the same in every pytest-xdist worker
def test_wire_setup_errors_are_one_clear_line(lab, args: list[str], message: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tcpconform.lab.lab import lab_up

    lab = lab_up(lab.name)
    done = _run_in_tester(lab, *args, tmp=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


@needs_root
def test_a_segment_the_link_cannot_carry_is_an_error_of_the_case_never_the_targets(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """3,000 bytes of data fit an IP packet (the loader takes them) but not the veth's 1,500-byte MTU."""
    case = tmp_path / "big-send.yaml"
    case.write_text("id: big-send\ntitle: more data than the link's MTU\n"
                    "requirements: [{id: r, ref: RFC 9293, level: MUST}]\nno_fault: n\nsteps:\n  - app: listen\n"
                    "  - send: \"S 0:0(0) win 5000\"\n  - expect: \"S. $isn:$isn(0) ack 1\"\n"
                    "  - send: \". 1:1(0) ack $isn+1\"\n  - send: {flags: PA, seq: 1, ack: $isn+1, len: 3000}\n")
    done = subprocess.run([sys.executable, "-m", "tcpconform.cli", "run", "--cases", str(case), "--lab", "reference",
                           "--lab-name", lab.name, "--report-dir", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr  # an error: the gate cannot pass, nothing failed
    assert "ERROR big-send" in done.stdout and f"{lab.tester_if} cannot carry a frame of 3054 bytes" in done.stdout
    assert "internal error" not in done.stdout
