"""The raw-socket link: real segments on a real interface, through one AF_PACKET socket.

One long-lived socket per run, with a kernel BPF filter so only address resolution (ARP; ICMPv6 for
Neighbor Discovery) and the test traffic reach Python; receive times come from the kernel
(``SO_TIMESTAMPNS``), not from when Python got round to reading, so a 500 ms bound is measured where
the segment arrived.  The endpoint speaks ARP itself (IPv6: Neighbor Solicitation and
Advertisement, :mod:`tcpconform.ndp`): it resolves the target's MAC and, when its own address is not
one the kernel owns (the lab, or a free ``--source-ip``), answers for it.  :class:`RawEndpoint` is
shared with the reference responder on the wire; :class:`RawSocketLink` is the engine's link on top
of it.
"""

from __future__ import annotations

import errno
import ipaddress
import select
import socket
import struct
import time
from collections import deque
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from ..framedecode import slotted_constructor
from ..ndp import Neighbour
from ..segment import Segment
from ..wire import decode, encode, encode_arp
from .base import Received

ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35
SO_ATTACH_FILTER = 26
PACKET_OUTGOING = 4
_TIMESPEC = struct.Struct("@ll")


class LinkSetupError(Exception):
    """The link cannot be opened as asked; the message says what to do about it."""


@dataclass(frozen=True, slots=True)
class RawFrame:
    segment: Segment
    at: float
    checksum_ok: bool


_raw_frame = slotted_constructor(RawFrame)
_received = slotted_constructor(Received)


def _mac_str(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw[:6])


def _mac_bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


class RawEndpoint:
    """One IPv4 or IPv6 address on one interface, spoken for by this process.

    ``answer_arp``: reply to ARP requests (IPv6: Neighbor Solicitations) for ``ip`` (when the kernel
    does not own it).
    ``netns``: open the socket inside that network namespace (the socket keeps it for life).
    """

    def __init__(self, iface: str, ip: str, *, answer_arp: bool = True, netns: str | None = None,
                 peer_ip: str | None = None) -> None:
        self.iface = iface
        self.ip = str(ipaddress.ip_address(ip))  # canonical text: segments' addresses are compared as text
        self.ipv6 = ":" in self.ip
        self.answer_arp = answer_arp
        self.netns = netns
        self.neighbours: dict[str, str] = {}
        self.pending: deque[RawFrame] = deque()
        self.stats = {"sent": 0, "received": 0, "arp_answered": 0, "nd_answered": 0, "bad_checksum": 0}
        self._buf = bytearray(65536)  # one receive buffer for the socket's life: no allocation per frame
        self._view = memoryview(self._buf)
        self.sock = self._open(peer_ip)
        self.mac = _mac_str(self.sock.getsockname()[4])

    def _enter(self) -> AbstractContextManager[object]:
        if self.netns is None:
            return nullcontext()
        from ..lab import in_netns

        return in_netns(self.netns)

    def _open(self, peer_ip: str | None) -> socket.socket:
        with self._enter():
            try:
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            except PermissionError:
                raise LinkSetupError(
                    "opening a raw socket needs root or CAP_NET_RAW (try sudo, or "
                    "'setcap cap_net_raw,cap_net_admin+ep' on the Python binary); "
                    "'tcpconform run' without a target needs no privileges"
                ) from None
            try:
                sock.bind((self.iface, ETH_P_ALL))
            except OSError as err:
                sock.close()
                if err.errno in (errno.ENODEV, errno.ENXIO):
                    where = f" in namespace {self.netns}" if self.netns else ""
                    raise LinkSetupError(f"no interface {self.iface!r}{where} (see 'ip link')") from None
                raise LinkSetupError(f"cannot bind a raw socket to {self.iface}: {err.strerror}") from None
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        expr = self.filter_expression(self.ip, peer_ip)
        self._attach_filter(sock, expr)
        self._drain(sock)  # frames that slipped in before the filter was attached
        sock.setblocking(False)
        return sock

    @staticmethod
    def filter_expression(ip: str, peer_ip: str | None = None) -> str:
        """The BPF filter (pcap syntax): address resolution, and TCP to ``ip`` (from ``peer_ip``)."""
        tcp = f"tcp and dst host {ip}" + (f" and src host {peer_ip}" if peer_ip else "")
        if ":" in ip:
            return f"icmp6 or (ip6 and {tcp})"  # Neighbor Discovery has no extension headers: plain icmp6
        return f"arp or ({tcp})"

    @staticmethod
    def _attach_filter(sock: socket.socket, expr: str) -> None:
        try:
            from scapy.arch.common import compile_filter
            from scapy.arch.linux import sock_fprog  # type: ignore[attr-defined]
        except ImportError as err:
            raise LinkSetupError(f"cannot compile a BPF filter ({err}); install libpcap (Debian: libpcap0.8)") from None
        prog = compile_filter(expr, linktype=1)  # DLT_EN10MB
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(sock_fprog(prog.bf_len, prog.bf_insns)))

    @staticmethod
    def _drain(sock: socket.socket) -> None:
        sock.setblocking(False)
        try:
            while True:
                sock.recv(65536)
        except BlockingIOError:
            pass

    def fileno(self) -> int:
        return self.sock.fileno()

    # -- sending ---------------------------------------------------------------------------------
    def send_frame(self, frame: bytes) -> float:
        """Send a frame; returns the time just before it was handed to the kernel."""
        at = time.time()
        self.sock.send(frame)
        self.stats["sent"] += 1
        return at

    def send(self, seg: Segment, timeout: float = 1.0) -> float:
        mac = self.resolve(seg.dst, timeout)
        frame = encode(seg, self.mac, mac)
        seg.meta["frame"] = frame  # the exact bytes, for the pcap
        return self.send_frame(frame)

    def resolve(self, ip: str, timeout: float = 1.0, tries: int = 3) -> str:
        """The MAC of ``ip`` on this link: learnt from its frames, else asked for by ARP or, over
        IPv6, by a Neighbor Solicitation to its solicited-node multicast group."""
        from ..ndp import encode_solicitation

        ip = str(ipaddress.ip_address(ip))
        mac = self.neighbours.get(ip)
        if mac is not None:
            return mac
        for _ in range(tries):
            if self.ipv6:
                self.send_frame(encode_solicitation(_mac_bytes(self.mac), self.ip, ip))
            else:
                self.send_frame(encode_arp(1, self.mac, self.ip, "00:00:00:00:00:00", ip))
            deadline = time.time() + timeout / tries
            while time.time() < deadline:
                self.poll(deadline - time.time())
                if ip in self.neighbours:
                    return self.neighbours[ip]
        asked = "Neighbor Solicitations" if self.ipv6 else "ARP"
        raise LinkSetupError(f"{ip} does not answer {asked} on {self.iface} (is it on this link, up, and addressed?)")

    # -- receiving -------------------------------------------------------------------------------
    def poll(self, timeout: float) -> bool:
        """Read what the kernel has (waiting up to ``timeout``); TCP for us goes to ``pending``."""
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not ready:
            return False
        buf, view = self._buf, self._view
        while True:
            try:
                size, anc, _flags, addr = self.sock.recvmsg_into([buf], 64)
            except BlockingIOError:
                return True
            if addr[2] == PACKET_OUTGOING:
                continue
            self._handle(bytes(view[:size]), anc)

    def _handle(self, data: bytes, anc: list[tuple[int, int, bytes]]) -> None:
        at = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= _TIMESPEC.size:
                sec, nsec = _TIMESPEC.unpack_from(payload)
                at = sec + nsec * 1e-9
        if at is None:
            at = time.time()
        frame = decode(data)
        if frame is None:
            return
        if frame.icmp6 is not None:
            nd = frame.nd  # neighbour discovery, or another ICMPv6 message that is not ours
            if nd is not None:
                self._neighbour_discovery(nd, frame.src_mac)
            return
        if frame.arp is not None:
            arp = frame.arp
            if arp.psrc and arp.psrc != "0.0.0.0":
                self.neighbours[arp.psrc] = arp.hwsrc
            if arp.op == 1 and arp.pdst == self.ip and self.answer_arp:
                self.send_frame(encode_arp(2, self.mac, self.ip, arp.hwsrc, arp.psrc))
                self.stats["arp_answered"] += 1
            return
        seg = frame.segment
        if seg is None or seg.dst != self.ip:
            return
        seg.meta["frame"] = data
        self.neighbours.setdefault(seg.src, frame.src_mac)
        self.stats["received"] += 1
        if not frame.checksum_ok:
            self.stats["bad_checksum"] += 1
        self.pending.append(_raw_frame(seg, at, frame.checksum_ok))

    def _neighbour_discovery(self, nd: Neighbour, src_mac: str) -> None:
        """Learn from solicitations and advertisements; answer solicitations for our own address
        (RFC 4861 7.2.4: solicited and override, with our link-layer address)."""
        from ..ndp import UNSPECIFIED, encode_advertisement

        if nd.kind == "advert" and nd.lladdr:
            self.neighbours[nd.target] = nd.lladdr
            return
        if nd.kind != "solicit":
            return
        if nd.src != UNSPECIFIED and nd.lladdr:
            self.neighbours[nd.src] = nd.lladdr
        if nd.target == self.ip and self.answer_arp:
            self.send_frame(encode_advertisement(_mac_bytes(self.mac), self.ip, _mac_bytes(nd.lladdr or src_mac), nd.src))
            self.stats["nd_answered"] += 1

    def close(self) -> None:
        self.sock.close()


class RawSocketLink:
    """The engine's link over a :class:`RawEndpoint`: segments from one target address."""

    name = "raw-socket"

    def __init__(self, endpoint: RawEndpoint, target_ip: str) -> None:
        self.endpoint = endpoint
        self.local_ip = endpoint.ip
        self.target_ip = str(ipaddress.ip_address(target_ip))
        self.sent = 0
        self.received = 0
        endpoint.resolve(self.target_ip)

    def now(self) -> float:
        return time.time()  # the clock of the kernel's receive timestamps

    def send(self, segment: Segment) -> float:
        self.sent += 1
        return self.endpoint.send(segment)

    def receive(self, timeout: float) -> Received | None:
        pending = self.endpoint.pending
        deadline = None
        while True:
            while pending:
                item = pending.popleft()
                if item.segment.src == self.target_ip:
                    self.received += 1
                    return _received(item.segment, item.at)
            now = time.time()
            if deadline is None:  # only once there is nothing queued: most calls find something
                deadline = now + max(0.0, timeout)
            left = deadline - now
            if left <= 0:
                return None
            self.endpoint.poll(left)

    def close(self) -> None:
        self.endpoint.close()

