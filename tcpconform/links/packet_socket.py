"""One AF_PACKET socket on one interface: the kernel's BPF filter, the receive ring, kernel times.

A socket lives as long as its run.  A kernel BPF filter lets only the traffic the caller names reach
Python; receive times come from the kernel (the ring's slot header, or ``SO_TIMESTAMPNS`` on the
socket's queue), not from when Python got round to reading, so a 500 ms bound is measured where the
frame arrived.  Every frame read goes to one callback, ``on_frame(data, at, summed)``; what the
frames mean is the caller's business (:mod:`tcpconform.links.rawsock`).

``summed`` is what the kernel says of the frame's transport checksum: ``False`` when it was never
computed (``TP_STATUS_CSUMNOTREADY``: the sender left it to a transmit checksum offload, and a veth or
a TAP hands the frame on without filling it in), so the checksum field holds no checksum at all.  The
ring's slot header says it of every frame; the socket's queue says it in ancillary data
(``PACKET_AUXDATA``), for the frames read from it when there is no ring or a frame was too large for
its slot.
"""

from __future__ import annotations

import errno
import mmap
import os
import select
import socket
import struct
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext, suppress

from tcpconform.errors import SetupError, TcpconformError
from tcpconform.links.bpf import Program, fprog
from tcpconform.wire.ethernet import ETH_P_ALL, mac_text

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
TP_STATUS_CSUMNOTREADY = 8
"""The frame's transport checksum was never computed (the kernel's ``CHECKSUM_PARTIAL``)."""
TP_STATUS_CSUM_VALID = 0x80
"""The checksum was verified below the socket (a NIC's receive offload); the tester checks it anyway."""
PACKET_AUXDATA = 8
_AUXDATA = struct.Struct("=IIIHHHH")  # struct tpacket_auxdata: status, len, snaplen, mac, net, vlan tci, tpid
_STATUS = struct.Struct("=I")  # its first member, tp_status
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size) + socket.CMSG_SPACE(_AUXDATA.size)
"""Room for the two ancillary messages of a frame read from the queue: its time and its status."""
RING_FRAME = 2048
"""A slot: the 32-byte slot header, the link-layer address, and an Ethernet frame of a 1500-byte MTU
with a VLAN tag.  A larger frame (jumbo, or merged by GRO) is truncated in its slot and queued whole on
the socket as well (``PACKET_COPY_THRESH``); the slot then says so (``TP_STATUS_COPY``)."""
RING_BLOCK = 1 << 16
RING_FRAMES = 2048
"""4 MiB of slots, as much as the socket's own buffer (``SO_RCVBUF``) holds of ~2 KiB frames."""
_TP2 = struct.Struct("=IIIHHII")  # struct tpacket2_hdr: status, len, snaplen, mac, net, sec, nsec
_SLL_PKTTYPE = 32 + 10  # the sockaddr_ll after the header (TPACKET_ALIGN(32)), its sll_pkttype byte
_RELEASE = bytes(4)

FrameHandler = Callable[[bytes, float, bool], None]
"""Called with every frame read (not the socket's own), its kernel receive time, and whether its
transport checksum was computed at all (:func:`checksum_summed`)."""


def checksum_summed(status: int) -> bool:
    """Whether a frame's transport checksum was computed, by the kernel's status of it (a ring slot's
    ``tp_status``, or ``tpacket_auxdata``'s): not when ``TP_STATUS_CSUMNOTREADY`` is set.

    ``TP_STATUS_CSUM_VALID``, or no checksum bit at all, both mean the checksum is in the frame, to
    be verified like any other.
    """
    return not status & TP_STATUS_CSUMNOTREADY


def auxdata_status(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    """The kernel's ``tp_status`` in a ``recvmsg``'s ancillary data (``PACKET_AUXDATA``), if there."""
    for level, kind, payload in ancillary:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(payload) >= _STATUS.size:
            status: int = _STATUS.unpack_from(payload)[0]
            return status
    return None


LINK_GONE = frozenset({errno.ENXIO, errno.ENODEV, errno.ENETDOWN})
"""What sending on an interface answers once it is removed or down: the environment's doing."""


class LinkSetupError(SetupError):
    """The link cannot be opened as asked; the message says what to do about it."""


class FrameTooBig(TcpconformError):
    """The interface refused a frame as larger than its MTU: the case asked for a segment this link
    cannot carry, which is the case's (or the link's) limit, never the target's doing."""


class PacketSocket:
    """An AF_PACKET socket bound to ``iface`` that admits what the pcap filter ``expression`` matches.

    ``netns``: open the socket inside that network namespace (the socket keeps it for life).
    ``expression`` may also be the filter's classic BPF program, already made (:mod:`tcpconform.links.bpf`,
    what a run's endpoint uses); a pcap expression is compiled by libpcap, through Scapy, imported only then.
    """

    def __init__(self, iface: str, expression: str | Program, on_frame: FrameHandler, *, netns: str | None = None) -> None:
        self.iface = iface
        self.netns = netns
        self._on_frame = on_frame
        self._buf = bytearray(65536)  # one receive buffer for the socket's life: no allocation per frame
        self._view = memoryview(self._buf)
        self._ring: mmap.mmap | None = None
        self._slot = 0
        self._dropped = 0
        self.sock = self._open(expression)
        self.mac = mac_text(self.sock.getsockname()[4][:6])

    @property
    def has_ring(self) -> bool:
        """Whether frames come through the receive ring (else through the socket's queue)."""
        return self._ring is not None

    def _enter(self) -> AbstractContextManager[object]:
        if self.netns is None:
            return nullcontext()
        from tcpconform.lab.netns import in_netns

        return in_netns(self.netns)

    def _open(self, expression: str | Program) -> socket.socket:
        spare = _SPARES.pop((self.iface, self.netns), None)
        if spare is not None and _bound_to(spare[0]) == self.iface:  # see open_spare
            sock, self._ring = spare
            self._attach_filter(sock, expression)
            self._drain(sock)  # nothing, since the spare admitted nothing; as a fresh socket is drained
            return sock
        return self._fresh(expression)  # (a spare on an interface since removed: its owner closes it)

    def _fresh(self, expression: str | Program) -> socket.socket:
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
        with suppress(OSError):  # Linux 2.6.27; without it a queued frame's checksum counts as computed
            sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        self._attach_filter(sock, expression)
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
    def _attach_filter(sock: socket.socket, expression: str | Program) -> None:
        if not isinstance(expression, str):
            option, buf = fprog(expression)
            sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, option)
            del buf  # the kernel has its copy
            return
        try:
            from scapy.arch.common import compile_filter
            from scapy.arch.linux import sock_fprog  # type: ignore[attr-defined]
        except ImportError as err:
            raise LinkSetupError(f"cannot compile a BPF filter ({err}); install libpcap (Debian: libpcap0.8)") from None
        prog = compile_filter(expression, linktype=1)  # DLT_EN10MB
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

    def detach(self) -> tuple[socket.socket, mmap.mmap | None]:
        """The socket and its ring, no longer this object's (see :func:`open_spare`)."""
        ring, self._ring = self._ring, None
        return self.sock, ring

    def send(self, frame: bytes) -> float:
        """Send a frame; returns the time just before it was handed to the kernel."""
        at = time.time()
        try:
            self.sock.send(frame)
        except OSError as err:
            if err.errno in LINK_GONE:
                raise LinkSetupError(f"{self.iface} went away or went down during the run ({os.strerror(err.errno)}): "
                                     "whatever removed it (a cleanup, another run) ended this one") from None
            if err.errno != errno.EMSGSIZE:
                raise
            raise FrameTooBig(f"{self.iface} cannot carry a frame of {len(frame)} bytes (larger than its MTU): "
                              "send less data per segment, or raise the interface's MTU") from None
        return at

    def poll(self, timeout: float) -> bool:
        """Read what the kernel has (waiting up to ``timeout``), each frame to ``on_frame``; whether
        there was anything."""
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
        queue full): frames nobody read."""
        with suppress(OSError):  # struct tpacket_stats: packets, drops; reading resets both
            _packets, drops = struct.unpack("=II", self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
            self._dropped += drops
        return self._dropped

    def _read_ring(self, ring: mmap.mmap) -> None:
        handle, unpack, slot = self._on_frame, _TP2.unpack_from, self._slot
        while True:
            at = slot * RING_FRAME
            if not ring[at] & TP_STATUS_USER:
                return
            status, _length, snaplen, mac, _net, sec, nsec = unpack(ring, at)
            data: bytes | None = None
            if ring[at + _SLL_PKTTYPE] != PACKET_OUTGOING:
                data = ring[at + mac:at + mac + snaplen]
                if status & TP_STATUS_COPY:
                    data, status = self._copied(data, status)
            ring[at:at + 4] = _RELEASE  # the slot back to the kernel: the frame is copied out
            slot = self._slot = (slot + 1) % RING_FRAMES
            if data is not None:
                handle(data, sec + nsec * 1e-9, not status & TP_STATUS_CSUMNOTREADY)

    def _copied(self, truncated: bytes, status: int) -> tuple[bytes, int]:
        """A frame too large for its slot, whole, from the socket's queue, where the kernel put it too,
        and the kernel's status of it there (``PACKET_AUXDATA``; else the slot's)."""
        try:
            data, ancillary, _flags, _addr = self.sock.recvmsg(65536, _ANCILLARY)
        except BlockingIOError:
            return truncated, status  # not copied: the socket's buffer was full
        queued = auxdata_status(ancillary)
        return data, status if queued is None else queued

    def _read_queue(self) -> None:
        buf, view, recvmsg, handle = self._buf, self._view, self.sock.recvmsg_into, self._on_frame
        while True:
            try:
                size, anc, _flags, addr = recvmsg([buf], _ANCILLARY)
            except BlockingIOError:
                return
            if addr[2] == PACKET_OUTGOING:
                continue
            at = None
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= _TIMESPEC.size:
                    sec, nsec = _TIMESPEC.unpack_from(payload)
                    at = sec + nsec * 1e-9
            status = auxdata_status(anc)
            handle(bytes(view[:size]), time.time() if at is None else at, status is None or checksum_summed(status))

    def close(self) -> None:
        if self._ring is not None:
            self._ring.close()
            self._ring = None
        self.sock.close()


ADMIT_NOTHING: Program = [(0x06, 0, 0, 0)]  # BPF_RET | BPF_K, 0: no frame is admitted
_SPARES: dict[tuple[str, str | None], tuple[socket.socket, mmap.mmap | None]] = {}


def open_spare(iface: str, *, netns: str | None = None) -> tuple[socket.socket, mmap.mmap | None]:
    """Open now, admitting nothing, the socket (and ring) the next :class:`PacketSocket` on ``iface``
    in ``netns`` of this process takes instead of opening its own; returns it for the caller to close
    once that use is over.

    For a lab's resident tester, which calls it before it forks a run: the child takes it ready made
    (its open costs some 20 ms, mostly the ring), and its close in the child only drops a reference
    (a packet socket's last close waits for the kernel's RCU grace period, some 25 ms), so neither
    is on the run's path; the resident tester closes its own reference after the run ended.  A
    socket that admitted nothing holds no frame of before the run.  Raises :class:`LinkSetupError`
    as opening one does.
    """
    key = (iface, netns)
    if key not in _SPARES:
        _SPARES[key] = PacketSocket(iface, ADMIT_NOTHING, _ignore, netns=netns).detach()
    return _SPARES[key]


def forget_spares() -> None:
    """Drop the spares this process holds (:func:`open_spare`): it is no run's to use them."""
    _SPARES.clear()


def _ignore(frame: bytes, at: float, summed: bool) -> None:
    """A spare's frame handler: it admits no frame."""


def _bound_to(sock: socket.socket) -> str | None:
    """The name of the interface a packet socket is bound to now ('' once that interface is gone)."""
    try:
        return str(sock.getsockname()[0])
    except OSError:
        return None
