"""Checksum offload on a real veth: a checksum the sender left to its transmit offload is never
filled in on a veth, and the kernel says so; it is unverifiable, not wrong.

The lab turns every offload off; these tests turn the target side's back on, as a veth has them by
default, and put the lab back (:func:`~tcpconform.lab.lab.lab_up` repairs it) however they end:

- Linux's own segments, its transmit checksum offloaded, arrive unverifiable, through the receive
  ring, the socket's queue and the copy of a frame too large for a ring slot, and a run against
  Linux gives no checksum failure for them, counts them and says so once;
- a wrong checksum the sender put in the frame itself (the responder's ``odd-checksum`` fault, in user
  space: the kernel has nothing to mark) is still caught, offloads on;
- with offloads off, every checksum is verified, as before.
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from support.wirelab import LAB, needs_root

from tcpconform.lab.lab import lab_up
from tcpconform.lab.netns import in_netns, run_in_ns
from tcpconform.links import packet_socket
from tcpconform.links.base import Received
from tcpconform.links.packet_socket import RING_FRAME
from tcpconform.links.rawsock import RawEndpoint
from tcpconform.tcp.segment import Flags, Segment
from tcpconform.wire import encode

pytestmark = needs_root


DEFAULTS = ("tx", "rx", "tso", "gso")
"""What a new veth has on (GRO it has off)."""


@contextmanager
def offloads(lab: Any, features: tuple[str, ...] = ("tx",), *, tester: bool = False) -> Iterator[None]:
    """The target side's ``features`` on (``tester``: the tester's too); by default its transmit
    checksum offload only, since with TSO and GSO Linux would send segments larger than the MSS,
    which a veth passes on as they are (a falsification of its own, not this one)."""
    ends = [(lab.target_ns, lab.target_if)] + ([(lab.tester_ns, lab.tester_if)] if tester else [])
    try:
        for ns, ifname in ends:
            run_in_ns(ns, ["ethtool", "-K", ifname, *[w for f in features for w in (f, "on")]], check=False)
            shown = run_in_ns(ns, ["ethtool", "-k", ifname]).stdout
            assert "tx-checksumming: on" in shown, shown
        yield
    finally:
        lab_up(lab.name)  # every offload off again
        assert "tx-checksumming: off" in run_in_ns(lab.target_ns, ["ethtool", "-k", lab.target_if]).stdout


def _until(endpoint: RawEndpoint, wanted: Callable[[Received], bool], timeout: float = 3.0) -> Received:
    deadline = time.time() + timeout
    while time.time() < deadline:
        while endpoint.pending:
            got = endpoint.pending.popleft()
            if wanted(got):
                return got
        endpoint.poll(0.05)
    raise AssertionError(f"nothing arrived in {timeout} s ({endpoint.stats})")


def _linux_segments(lab: Any, endpoint: RawEndpoint, sizes: list[int], port: int, mss: int = 1460) -> list[Received]:
    """What Linux's own TCP sends: its SYN to the tester, its ACK of the tester's SYN-ACK, and data
    of ``sizes`` bytes (one send each, no Nagle)."""
    with in_netns(lab.target_ns):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.setblocking(False)
        with suppress(BlockingIOError):
            client.connect((lab.tester_ip, port))
        syn = _until(endpoint, lambda g: g.segment.dport == port and g.segment.flags == Flags.SYN)
        s = syn.segment
        endpoint.send(Segment(lab.tester_ip, lab.linux_ip, port, s.sport, seq=7000, ack=s.seq + 1,
                              flags=Flags.SYN | Flags.ACK, window=65535, options=(("MSS", mss),)))
        got = [syn, _until(endpoint, lambda g: g.segment.dport == port and not g.segment.payload)]
        for n in sizes:
            client.send(bytes(n))
        while sum(len(g.segment.payload) for g in got) < sum(sizes):
            got.append(_until(endpoint, lambda g: g.segment.dport == port and bool(g.segment.payload)))
        return got
    finally:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # a RST, no FIN dance
        client.close()


@pytest.fixture()
def endpoint(lab: Any) -> Iterator[RawEndpoint]:
    made = RawEndpoint(lab.tester_if, lab.tester_ip, netns=lab.tester_ns, peer_ip=lab.linux_ip)
    try:
        yield made
    finally:
        made.close()


@pytest.mark.parametrize("ring", [True, False], ids=["ring", "queue"])
def test_linux_s_offloaded_checksums_are_unverifiable_not_wrong(lab: Any, ring: bool,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    if not ring:  # the socket's queue: PACKET_AUXDATA says it
        monkeypatch.setattr(packet_socket.PacketSocket, "_map_ring", staticmethod(lambda sock: None))
    tester = RawEndpoint(lab.tester_if, lab.tester_ip, netns=lab.tester_ns, peer_ip=lab.linux_ip)
    try:
        assert tester.packets.has_ring is ring
        with offloads(lab):
            got = _linux_segments(lab, tester, [1, 333, 1000], port=47000 + ring)
        assert [g.checksum for g in got] == ["unverifiable"] * len(got)
        assert tester.stats["unverifiable_checksum"] >= len(got) and tester.stats["bad_checksum"] == 0
    finally:
        tester.close()


def test_a_frame_too_large_for_a_ring_slot_says_it_through_its_copy(lab: Any) -> None:
    mtu = ["ip", "link", "set", "dev"]
    run_in_ns(lab.tester_ns, [*mtu, lab.tester_if, "mtu", "9000"])
    run_in_ns(lab.target_ns, [*mtu, lab.target_if, "mtu", "9000"])
    tester = RawEndpoint(lab.tester_if, lab.tester_ip, netns=lab.tester_ns, peer_ip=lab.linux_ip)
    try:
        assert tester.packets.has_ring
        with offloads(lab):
            got = _linux_segments(lab, tester, [RING_FRAME * 3], port=47002, mss=8960)
        assert [len(g.segment.payload) for g in got] == [0, 0, RING_FRAME * 3]  # whole, from the queue's copy
        assert [g.checksum for g in got] == ["unverifiable"] * 3
    finally:
        tester.close()
        run_in_ns(lab.tester_ns, [*mtu, lab.tester_if, "mtu", "1500"])
        run_in_ns(lab.target_ns, [*mtu, lab.target_if, "mtu", "1500"])


def test_with_offloads_off_every_checksum_is_verified(lab: Any, endpoint: RawEndpoint) -> None:
    got = _linux_segments(lab, endpoint, [1, 333, 1000], port=47003)
    assert [g.checksum for g in got] == ["ok"] * len(got)
    assert endpoint.stats["unverifiable_checksum"] == 0


def test_a_wrong_checksum_in_the_frame_is_wrong_on_a_veth_with_default_offloads(lab: Any, endpoint: RawEndpoint) -> None:
    """A frame built in user space (as the responder on the wire builds its own) carries its checksum,
    right or wrong: the kernel marks nothing, and the tester judges it."""
    with in_netns(lab.target_ns):
        peer = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    try:
        peer.bind((lab.target_if, 3))
        with offloads(lab, DEFAULTS, tester=True):
            for i, chksum in enumerate((None, "bad")):
                seg = Segment(lab.linux_ip, lab.tester_ip, 8000, 47010 + i, seq=1, ack=1, flags=Flags.ACK,
                              window=512, payload=b"odd", chksum=chksum)
                peer.send(encode(seg, lab.target_mac, endpoint.mac))
            got = [_until(endpoint, lambda g, p=47010 + i: g.segment.dport == p) for i in range(2)]
        assert [g.checksum for g in got] == ["ok", "wrong"]
    finally:
        peer.close()


# -- whole runs ----------------------------------------------------------------------------------
def _run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = subprocess.run([sys.executable, "-m", "tcpconform.cli", "run", "--lab-name", LAB,
                           "--report-dir", str(tmp_path), "-q", "--quick", *args],
                          capture_output=True, text=True, timeout=300)
    return done, json.loads((tmp_path / "results.json").read_text())


def _checksum_failures(results: dict[str, Any]) -> list[str]:
    return [c["id"] for c in results["cases"] for s in c["steps"]
            if s["verdict"] == "fail" and (s.get("requirement") or {}).get("id") == "checksum"]


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "checksum the kernel says was never computed" in line]


def test_linux_with_its_checksum_offloaded_gives_no_false_failure(lab: Any, tmp_path: Path) -> None:
    with offloads(lab):
        done, results = _run(tmp_path, "--lab", "linux", "--baseline", "baselines/linux.yaml", "--fail-on", "any")
    assert done.returncode == 0, done.stdout + done.stderr  # the 9 known deviations, nothing else
    assert _checksum_failures(results) == []
    run = results["run"]
    assert run["unverified_checksums"] > 100
    assert run["unverified_checksums"] == sum(c["unverified_checksums"] for c in results["cases"])
    (case,) = [c for c in results["cases"] if c["id"] == "header-checksum-generated"]
    assert case["verdict"] == "skip" and case["unverified_checksums"] == 4
    assert "could not be verified" in case["reason"] and "tx off" in case["reason"]
    (line,) = _warnings(done.stderr)  # once per run
    assert line.startswith(f"warning: {run['unverified_checksums']} segment(s)") and f"peer of {lab.tester_if}" in line


def test_an_echo_service_with_its_checksum_offloaded_gives_no_false_failure(lab: Any, tmp_path: Path) -> None:
    """The run of the report: Linux serving echo on a veth with the target's offloads on, driven with
    ``--target``; before, 51 cases failed on the checksum invariant."""
    from tcpconform.lab.netns import ns_argv

    echo = ("import socket, threading\nsrv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            f"srv.bind(('{lab.linux_ip}', 7)); srv.listen(16)\n"
            "def serve(c):\n    with c:\n        while (d := c.recv(65536)):\n            c.sendall(d)\n"
            "while True:\n    c, _ = srv.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()\n")
    server = subprocess.Popen(ns_argv(lab.target_ns, [sys.executable, "-c", echo]))
    try:
        time.sleep(0.3)
        with offloads(lab):
            done = subprocess.run(ns_argv(lab.tester_ns, [
                sys.executable, "-m", "tcpconform.cli", "run", "--target", lab.linux_ip, "--port", "7",
                "--iface", lab.tester_if, "--source-ip", lab.tester_ip, "--report-dir", str(tmp_path), "-q", "--quick"]),
                capture_output=True, text=True, timeout=300)
    finally:
        server.kill()
        server.wait()
    results = json.loads((tmp_path / "results.json").read_text())
    assert _checksum_failures(results) == [], done.stdout
    assert results["run"]["unverified_checksums"] > 100
    assert len(_warnings(done.stderr)) == 1
    assert not any("rx-checksumming" in w for w in results["run"].get("warnings", []))  # the tester's own: no matter


def test_a_wrong_checksum_on_the_wire_is_still_caught_offloads_on(lab: Any, tmp_path: Path) -> None:
    with offloads(lab, DEFAULTS, tester=True):
        done, results = _run(tmp_path, "--lab", "reference", "--fault", "odd-checksum", "header-checksum-generated")
    assert _checksum_failures(results) == ["header-checksum-generated"], done.stdout
    assert results["run"]["unverified_checksums"] == 0 and _warnings(done.stderr) == []


def test_with_offloads_off_a_run_verifies_every_checksum(lab: Any, tmp_path: Path) -> None:
    done, results = _run(tmp_path, "--lab", "linux", "header-checksum-generated", "seed-handshake")
    assert done.returncode == 0, done.stdout + done.stderr
    assert {c["id"]: c["verdict"] for c in results["cases"]} == {"header-checksum-generated": "pass", "seed-handshake": "pass"}
    assert results["run"]["unverified_checksums"] == 0 and _warnings(done.stderr) == []
    assert all(c["unverified_checksums"] == 0 for c in results["cases"])
