"""Helpers of the lab tests: privilege checks, frames built and parsed with ``struct``, a capture socket.

Frames are built by hand rather than with Scapy so the tests start fast and show exactly which
bytes go on the wire.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tcpconform.lab.netns import in_netns
from tcpconform.wire.checksum import internet_checksum
from tcpconform.wire.ethernet import ETH_P_ALL, ETH_P_ARP, ETH_P_IP

PACKET_OUTGOING = 4
TCP_FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10}

def worker_index() -> int:
    """pytest-xdist's worker number (``gw3``: 3); 0 in a run without workers."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name[2:]) if name[2:].isdigit() else 0


def worker_lab(n: int) -> str:
    """Lab ``n`` of this worker: each pytest-xdist worker has labs of its own (``n + 10 x worker``),
    so the tests on real links run side by side without meeting."""
    return str(n + 10 * worker_index())


LAB7, LAB8, LAB9 = worker_lab(7), worker_lab(8), worker_lab(9)
TEST_LABS = (LAB7, LAB8, LAB9)
"""Lab names the tests use: away from lab 0, which people and other test suites use."""


def skip_reason() -> str | None:
    """Why the lab tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root: the lab creates network namespaces"
    if shutil.which("ip") is None:
        return "needs `ip` (iproute2)"
    if subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        return "`ip netns` does not work here"
    if shutil.which("ethtool") is None:
        return "needs `ethtool`"
    return None


needs_root = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")
needs_nft = pytest.mark.skipif(shutil.which("nft") is None, reason="needs `nft` (nftables)")


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


checksum = internet_checksum


def tcp_segment(src: str, dst: str, sport: int, dport: int, seq: int, flags: str, ack: int = 0, window: int = 5000) -> bytes:
    """A TCP header (no options, no payload) with a correct checksum, for an AF_INET raw socket."""
    bits = sum(TCP_FLAGS[f] for f in flags)
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, bits, window, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(header))
    return header[:16] + struct.pack("!H", checksum(pseudo + header)) + header[18:]


def arp_request(src_mac: str, src_ip: str, target_ip: str) -> bytes:
    """A broadcast ARP who-has frame."""
    eth = b"\xff" * 6 + mac_bytes(src_mac) + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, 1) + mac_bytes(src_mac) + socket.inet_aton(src_ip) + b"\0" * 6
    return eth + arp + socket.inet_aton(target_ip)


@dataclass(frozen=True)
class Frame:
    """The fields of a captured frame the tests look at."""

    outgoing: bool
    ethertype: int
    src_mac: str
    arp_op: int = 0
    arp_sender_ip: str = ""
    arp_target_ip: str = ""
    ip_src: str = ""
    ip_dst: str = ""
    sport: int = 0
    dport: int = 0
    flags: str = ""

    @property
    def is_rst(self) -> bool:
        return "R" in self.flags


def parse(data: bytes, pkttype: int) -> Frame:
    ethertype = struct.unpack("!H", data[12:14])[0]
    src_mac = data[6:12].hex(":")
    frame = Frame(pkttype == PACKET_OUTGOING, ethertype, src_mac)
    if ethertype == ETH_P_ARP and len(data) >= 42:
        op = struct.unpack("!H", data[20:22])[0]
        return Frame(frame.outgoing, ethertype, src_mac, arp_op=op,
                     arp_sender_ip=socket.inet_ntoa(data[28:32]), arp_target_ip=socket.inet_ntoa(data[38:42]))
    if ethertype == ETH_P_IP and len(data) >= 34 and data[23] == socket.IPPROTO_TCP:
        ihl = (data[14] & 0x0F) * 4
        tcp = data[14 + ihl:]
        sport, dport = struct.unpack("!HH", tcp[:4])
        flags = "".join(f for f, bit in TCP_FLAGS.items() if tcp[13] & bit)
        return Frame(frame.outgoing, ethertype, src_mac, ip_src=socket.inet_ntoa(data[26:30]),
                     ip_dst=socket.inet_ntoa(data[30:34]), sport=sport, dport=dport, flags=flags)
    return frame


class Capture:
    """An AF_PACKET socket on ``ifname`` inside ``ns``: every frame in and out, as :class:`Frame`."""

    def __init__(self, ns: str, ifname: str, proto: int = ETH_P_ALL) -> None:
        with in_netns(ns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto))
            self.sock.bind((ifname, proto))
        self.ifname = ifname

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)

    def collect(self, seconds: float, until: Callable[[list[Frame]], bool] | None = None) -> list[Frame]:
        """Frames seen within ``seconds``, stopping early once ``until(frames)`` holds."""
        frames: list[Frame] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                break
            frames.append(parse(data, addr[2]))
            if until is not None and until(frames):
                break
        return frames

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
