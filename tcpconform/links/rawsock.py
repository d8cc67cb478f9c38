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
import mmap
import select
import socket
import struct
import time
from collections import deque
from contextlib import AbstractContextManager, nullcontext, suppress
from typing import NamedTuple

from tcpconform.errors import SetupError
from tcpconform.links.base import Received
from tcpconform.tcp.segment import Segment
from tcpconform.wire import decode, encode, encode_arp, tcp_segment
from tcpconform.wire.ndp import Neighbour

ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35
SO_ATTACH_FILTER = 26
PACKET_OUTGOING = 4
_TIMESPEC = struct.Struct("@ll")

# The receive ring (linux/if_packet.h): the kernel copies each frame the filter admits into a slot of
# a buffer shared with this process, with its receive time, so reading one costs no system call.
SOL_PACKET = 263
PACKET_RX_RING = 5
PACKET_COPY_THRESH = 7
PACKET_STATISTICS = 6
PACKET_VERSION = 10
PACKET_IGNORE_OUTGOING = 23
TPACKET_V2 = 1
TP_STATUS_USER = 1
TP_STATUS_COPY = 2
TP_STATUS_LOSING = 4
RING_FRAME = 2048
"""A slot: the 32-byte slot header, the link-layer address, and an Ethernet frame of a 1500-byte MTU
with a VLAN tag.  A larger frame (jumbo, or merged by GRO) is truncated in its slot and queued whole on
the socket as well (``PACKET_COPY_THRESH``); the slot then says so (``TP_STATUS_COPY``)."""
RING_BLOCK = 1 << 16
RING_FRAMES = 2048
"""4 MiB of slots: as many frames as the socket buffer held before (4 MiB of ~2 KiB buffers)."""
_TP2 = struct.Struct("=IIIHHII")  # struct tpacket2_hdr: status, len, snaplen, mac, net, sec, nsec
_SLL_PKTTYPE = 32 + 10  # the sockaddr_ll after the header (TPACKET_ALIGN(32)), its sll_pkttype byte
_RELEASE = bytes(4)


class LinkSetupError(SetupError):
    """The link cannot be opened as asked; the message says what to do about it."""


class RawFrame(NamedTuple):
    """A segment for this endpoint, as it arrived."""

    segment: Segment
    at: float
    """The kernel's receive time."""
    checksum_ok: bool


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
        self._ring: mmap.mmap | None = None
        self._slot = 0
        self._dropped = 0
        self.sock = self._open(peer_ip)
        self.mac = _mac_str(self.sock.getsockname()[4])

    def _enter(self) -> AbstractContextManager[object]:
        if self.netns is None:
            return nullcontext()
        from tcpconform.lab.netns import in_netns

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
        self._ring = self._map_ring(sock)
        self._drain(sock)  # frames that slipped in before the filter (and the ring) were in place
        sock.setblocking(False)
        return sock

    @staticmethod
    def _map_ring(sock: socket.socket) -> mmap.mmap | None:
        """The receive ring (``PACKET_RX_RING``, version 2), or ``None`` where the kernel has none.

        Version 2, one slot per frame, hands each frame over as soon as it is written; version 3
        packs frames into blocks handed over when full or when a timer of a millisecond or more
        expires, a delay a tester that answers segments must not add.  Frames this socket sends
        itself are not wanted (``PACKET_IGNORE_OUTGOING``, Linux 4.20; before it they are skipped
        by their packet type).
        """
        with suppress(OSError):
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        try:
            sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
            sock.setsockopt(SOL_PACKET, PACKET_COPY_THRESH, 1)
            size = RING_FRAME * RING_FRAMES
            sock.setsockopt(SOL_PACKET, PACKET_RX_RING,
                            struct.pack("=IIII", RING_BLOCK, size // RING_BLOCK, RING_FRAME, RING_FRAMES))
            return mmap.mmap(sock.fileno(), size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError:
            return None  # the socket's own queue: a system call per frame

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
        mac = self.neighbours.get(ip)  # segments carry canonical text: the one lookup of nearly every send
        if mac is not None:
            return mac
        from tcpconform.wire.ndp import encode_solicitation

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
        ring = self._ring
        if ring is not None and ring[self._slot * RING_FRAME] & TP_STATUS_USER:
            self._read_ring(ring)  # already there: no system call at all
            return True
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not ready:
            return False
        if ring is not None:
            self._read_ring(ring)
        else:
            self._read_queue()
        return True

    def dropped(self) -> int:
        """Frames the filter admitted that the kernel had to drop since the socket opened (ring or
        queue full): a segment the tester never saw, so a case waiting for it may have failed for it."""
        with suppress(OSError):  # struct tpacket_stats: packets, drops; reading resets both
            _packets, drops = struct.unpack("=II", self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
            self._dropped += drops
        return self._dropped

    def discard(self) -> None:
        """Drop every frame received and not yet read."""
        self.poll(0)
        self.pending.clear()

    def _read_ring(self, ring: mmap.mmap) -> None:
        handle, unpack, slot = self._handle, _TP2.unpack_from, self._slot
        while True:
            at = slot * RING_FRAME
            if not ring[at] & TP_STATUS_USER:
                return
            status, _length, snaplen, mac, _net, sec, nsec = unpack(ring, at)
            data: bytes | None = None
            if ring[at + _SLL_PKTTYPE] != PACKET_OUTGOING:
                data = ring[at + mac:at + mac + snaplen]
                if status & TP_STATUS_COPY:
                    data = self._copied(data)
            ring[at:at + 4] = _RELEASE  # the slot back to the kernel: the frame is copied out
            slot = self._slot = (slot + 1) % RING_FRAMES
            if data is not None:
                handle(data, sec + nsec * 1e-9)

    def _copied(self, truncated: bytes) -> bytes:
        """A frame too large for its slot, whole, from the socket's queue, where the kernel put it too."""
        try:
            return self.sock.recv(65536)
        except BlockingIOError:
            return truncated  # not copied: the socket's buffer was full

    def _read_queue(self) -> None:
        buf, view, recvmsg, handle = self._buf, self._view, self.sock.recvmsg_into, self._handle
        while True:
            try:
                size, anc, _flags, addr = recvmsg([buf], 64)
            except BlockingIOError:
                return
            if addr[2] == PACKET_OUTGOING:
                continue
            at = None
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= _TIMESPEC.size:
                    sec, nsec = _TIMESPEC.unpack_from(payload)
                    at = sec + nsec * 1e-9
            handle(bytes(view[:size]), time.time() if at is None else at)

    def _handle(self, data: bytes, at: float) -> None:
        got = tcp_segment(data)
        if got is None:
            self._other(data, at)
            return
        seg, checksum_ok = got
        if seg.dst != self.ip:
            return
        seg.meta["frame"] = data
        if seg.src not in self.neighbours:
            self.neighbours[seg.src] = data[6:12].hex(":")
        stats = self.stats
        stats["received"] += 1
        if not checksum_ok:
            stats["bad_checksum"] += 1
            seg.meta["bad_checksum"] = True  # what the engine checks (and what it sets to send one)
        self.pending.append(RawFrame(seg, at, checksum_ok))

    def _other(self, data: bytes, at: float) -> None:
        """Address resolution; anything else the filter let through is not ours."""
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

    def _neighbour_discovery(self, nd: Neighbour, src_mac: str) -> None:
        """Learn from solicitations and advertisements; answer solicitations for our own address
        (RFC 4861 7.2.4: solicited and override, with our link-layer address)."""
        from tcpconform.wire.ndp import UNSPECIFIED, encode_advertisement

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
        if self._ring is not None:
            self._ring.close()
            self._ring = None
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
                    return Received(item.segment, item.at)
            now = time.time()
            if deadline is None:  # only once there is nothing queued: most calls find something
                deadline = now + max(0.0, timeout)
            left = deadline - now
            if left <= 0:
                return None
            self.endpoint.poll(left)

    def dropped(self) -> int:
        """Frames the kernel dropped before the tester could read them."""
        return self.endpoint.dropped()

    def close(self) -> None:
        self.endpoint.close()

