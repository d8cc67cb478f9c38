"""What the kernel says of a received frame's checksum, decoded: from a ring slot's ``tp_status``,
from ``PACKET_AUXDATA`` on the socket's queue, and for a frame too large for its slot.

No socket here: a bytearray stands for the ring, a small fake for the socket, so every path of the
decoding is run on exactly the bytes the kernel would leave (``linux/if_packet.h``).
"""

from __future__ import annotations

import socket
import struct
from collections import deque

import pytest

from tcpconform.links.packet_socket import (
    PACKET_AUXDATA,
    PACKET_OUTGOING,
    RING_FRAME,
    RING_FRAMES,
    SO_TIMESTAMPNS,
    SOL_PACKET,
    TP_STATUS_COPY,
    TP_STATUS_CSUM_VALID,
    TP_STATUS_CSUMNOTREADY,
    TP_STATUS_LOSING,
    TP_STATUS_USER,
    PacketSocket,
    auxdata_status,
    checksum_summed,
)
from tcpconform.links.rawsock import RawEndpoint
from tcpconform.tcp.segment import Flags, Segment
from tcpconform.wire import encode

MAC = 32 + 20  # where a slot's frame starts: after the header and the sockaddr_ll (TPACKET_ALIGN'ed)


@pytest.mark.parametrize(("status", "summed"), [
    (0, True),
    (TP_STATUS_USER, True),
    (TP_STATUS_USER | TP_STATUS_CSUM_VALID, True),  # verified below the socket: checked again anyway
    (TP_STATUS_USER | TP_STATUS_COPY | TP_STATUS_LOSING, True),
    (TP_STATUS_USER | TP_STATUS_CSUMNOTREADY, False),
    (TP_STATUS_USER | TP_STATUS_COPY | TP_STATUS_CSUMNOTREADY, False),
    (TP_STATUS_CSUMNOTREADY, False),  # as tpacket_auxdata has it
])
def test_a_checksum_is_unverifiable_exactly_when_the_kernel_says_it_was_never_computed(status: int, summed: bool) -> None:
    assert checksum_summed(status) is summed


def _aux(status: int) -> tuple[int, int, bytes]:
    return (SOL_PACKET, PACKET_AUXDATA, struct.pack("=IIIHHHH", status, 60, 60, 0, 14, 0, 0))


def test_the_status_in_a_recvmsg_s_ancillary_data() -> None:
    stamp = (socket.SOL_SOCKET, SO_TIMESTAMPNS, struct.pack("@ll", 1, 2))
    assert auxdata_status([stamp, _aux(TP_STATUS_USER | TP_STATUS_CSUMNOTREADY)]) == TP_STATUS_USER | TP_STATUS_CSUMNOTREADY
    assert auxdata_status([stamp]) is None  # no PACKET_AUXDATA: nothing said
    assert auxdata_status([(SOL_PACKET, PACKET_AUXDATA, b"\x08")]) is None  # cut short
    assert auxdata_status([(socket.SOL_SOCKET, PACKET_AUXDATA, struct.pack("=I", 8))]) is None  # another level's 8


def _frame(i: int, size: int = 60) -> bytes:
    seg = Segment("198.18.9.2", "198.18.9.1", 8000, 41000 + i, seq=i, ack=1, flags=Flags.ACK, window=512,
                  payload=bytes(size))
    return encode(seg, "02:00:00:00:00:02", "02:00:00:00:00:01")


def _slot(ring: bytearray, index: int, frame: bytes, status: int, *, outgoing: bool = False,
          snaplen: int | None = None) -> None:
    at = index * RING_FRAME
    shown = frame[:snaplen] if snaplen is not None else frame
    struct.pack_into("=IIIHHII", ring, at, status, len(frame), len(shown), MAC, MAC + 14, 1000 + index, 500)
    ring[at + 32 + 10] = PACKET_OUTGOING if outgoing else 0  # sll_pkttype
    ring[at + MAC:at + MAC + len(shown)] = shown


Ancillary = list[tuple[int, int, bytes]]


class _Queue:
    """The socket's queue, as ``recvmsg`` and ``recvmsg_into`` read it: frames with their ancillary data."""

    def __init__(self, items: list[tuple[bytes, Ancillary, int]]) -> None:
        self.items = items
        self.ancillary_room: list[int] = []

    def recvmsg(self, size: int, room: int) -> tuple[bytes, Ancillary, int, tuple[object, ...]]:
        self.ancillary_room.append(room)
        if not self.items:
            raise BlockingIOError
        data, anc, _pkttype = self.items.pop(0)
        return data, anc, 0, ()

    def recvmsg_into(self, buffers: list[bytearray], room: int) -> tuple[int, Ancillary, int, tuple[object, ...]]:
        self.ancillary_room.append(room)
        if not self.items:
            raise BlockingIOError
        data, anc, pkttype = self.items.pop(0)
        buffers[0][:len(data)] = data
        return len(data), anc, 0, ("eth0", 0x0800, pkttype, 1, b"\x02" * 6)


def _packets(sock: object = None) -> tuple[PacketSocket, list[tuple[bytes, float, bool]]]:
    """A :class:`PacketSocket` without a socket: only what reading frames needs."""
    seen: list[tuple[bytes, float, bool]] = []
    packets = object.__new__(PacketSocket)
    packets._on_frame = lambda data, at, summed: seen.append((bytes(data), at, summed))  # type: ignore[attr-defined]
    packets._slot = 0  # type: ignore[attr-defined]
    packets._buf = bytearray(65536)  # type: ignore[attr-defined]
    packets._view = memoryview(packets._buf)  # type: ignore[attr-defined]
    packets.sock = sock  # type: ignore[assignment]
    return packets, seen


def test_the_ring_says_of_each_frame_whether_its_checksum_was_computed() -> None:
    ring = bytearray(RING_FRAME * RING_FRAMES)
    frames = [_frame(i) for i in range(5)]
    _slot(ring, 0, frames[0], TP_STATUS_USER | TP_STATUS_CSUMNOTREADY)  # a veth peer's offloaded checksum
    _slot(ring, 1, frames[1], TP_STATUS_USER)  # plain: the checksum is in the frame
    _slot(ring, 2, frames[2], TP_STATUS_USER | TP_STATUS_CSUM_VALID)  # a NIC checked it: we check it too
    _slot(ring, 3, frames[3], TP_STATUS_USER | TP_STATUS_CSUMNOTREADY, outgoing=True)  # our own: skipped
    _slot(ring, 4, frames[4], TP_STATUS_USER | TP_STATUS_LOSING | TP_STATUS_CSUMNOTREADY)
    packets, seen = _packets()
    packets._read_ring(ring)  # type: ignore[arg-type]  # a bytearray reads as the mmap does
    assert [(data, summed) for data, _at, summed in seen] == [
        (frames[0], False), (frames[1], True), (frames[2], True), (frames[4], False)]
    assert [at for _data, at, _summed in seen] == [pytest.approx(1000 + i + 500e-9) for i in (0, 1, 2, 4)]
    assert all(ring[i * RING_FRAME] == 0 for i in range(5))  # every slot handed back to the kernel
    assert packets._slot == 5  # type: ignore[attr-defined]


def test_a_frame_too_large_for_its_slot_takes_its_status_from_the_queue() -> None:
    big, small = _frame(0, 3000), _frame(1, 3000)
    queue = _Queue([(big, [_aux(TP_STATUS_USER | TP_STATUS_CSUMNOTREADY)], 0), (small, [], 0)])
    ring = bytearray(RING_FRAME * RING_FRAMES)
    _slot(ring, 0, big, TP_STATUS_USER | TP_STATUS_COPY, snaplen=RING_FRAME - MAC)
    # No PACKET_AUXDATA with the copy (a kernel without it): the slot's own status stands.
    _slot(ring, 1, small, TP_STATUS_USER | TP_STATUS_COPY | TP_STATUS_CSUMNOTREADY, snaplen=RING_FRAME - MAC)
    packets, seen = _packets(queue)
    packets._read_ring(ring)  # type: ignore[arg-type]
    assert [(data, summed) for data, _at, summed in seen] == [(big, False), (small, False)]
    assert all(room >= socket.CMSG_SPACE(20) for room in queue.ancillary_room)  # room for tpacket_auxdata


def test_the_socket_queue_says_it_in_packet_auxdata() -> None:
    stamp = (socket.SOL_SOCKET, SO_TIMESTAMPNS, struct.pack("@ll", 7, 250_000_000))
    frames = [_frame(i) for i in range(4)]
    queue = _Queue([
        (frames[0], [stamp, _aux(TP_STATUS_USER | TP_STATUS_CSUMNOTREADY)], 0),
        (frames[1], [_aux(TP_STATUS_USER | TP_STATUS_CSUM_VALID), stamp], 0),
        (frames[2], [_aux(TP_STATUS_USER | TP_STATUS_CSUMNOTREADY)], PACKET_OUTGOING),  # our own: skipped
        (frames[3], [stamp], 0),  # no status: the checksum is checked as it stands
    ])
    packets, seen = _packets(queue)
    packets._read_queue()  # type: ignore[attr-defined]
    assert [(data, at, summed) for data, at, summed in seen] == [
        (frames[0], 7.25, False), (frames[1], 7.25, True), (frames[3], 7.25, True)]
    room = socket.CMSG_SPACE(struct.calcsize("@ll")) + socket.CMSG_SPACE(20)
    assert all(r >= room for r in queue.ancillary_room)  # both messages fit: neither is cut (MSG_CTRUNC)


def test_the_endpoint_tells_unverifiable_from_wrong() -> None:
    """What the kernel says comes first: a checksum never computed is unverifiable whatever the field
    holds; a computed one is right or wrong by the tester's own sum."""
    endpoint = object.__new__(RawEndpoint)
    endpoint.ip, endpoint.neighbours, endpoint.pending = "198.18.9.1", {}, deque()
    endpoint.own, endpoint.peers = frozenset({"198.18.9.1"}), frozenset()
    endpoint.stats = {"received": 0, "bad_checksum": 0, "unverifiable_checksum": 0}
    good = _frame(0)
    bad = bytearray(good)
    bad[50] ^= 0xFF  # the TCP checksum's first byte, behind 14 + 20 + 16 bytes
    endpoint._handle(good, 1.0, True)
    endpoint._handle(bytes(bad), 2.0, True)
    endpoint._handle(bytes(bad), 3.0, False)  # a partial sum where the checksum goes: never computed
    endpoint._handle(good, 4.0, False)
    assert [g.checksum for g in endpoint.pending] == ["ok", "wrong", "unverifiable", "unverifiable"]
    assert endpoint.stats == {"received": 4, "bad_checksum": 1, "unverifiable_checksum": 2}
