"""The raw endpoint's receive ring on a real veth: whole frames, kernel times, and the fallback queue.

A frame larger than a ring slot (a jumbo frame, or segments merged by GRO on a user's interface)
must still arrive whole, from the copy the kernel also queues on the socket; where the kernel has
no ring the endpoint reads the socket's queue, and both ways give the same segments.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from support.wirelab import needs_root

from tcpconform.lab.lab import lab_up
from tcpconform.lab.netns import in_netns, run_in_ns
from tcpconform.links import packet_socket
from tcpconform.links.packet_socket import RING_FRAME, RING_FRAMES
from tcpconform.links.rawsock import RawEndpoint
from tcpconform.tcp.segment import Flags, Segment
from tcpconform.wire import encode

pytestmark = needs_root


@pytest.fixture()
def peer(lab) -> Iterator[socket.socket]:  # type: ignore[no-untyped-def]
    """A plain packet socket on the target side of the veth, to put frames on the wire."""
    lab = lab_up(lab.name)
    with in_netns(lab.target_ns):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        sock.bind((lab.target_if, 3))
    try:
        yield sock
    finally:
        sock.close()


def _segments_from_target(lab, endpoint: RawEndpoint, peer: socket.socket, sizes: list[int]) -> list[Segment]:  # type: ignore[no-untyped-def]
    sent = [Segment(lab.linux_ip, lab.tester_ip, 8000, 41000 + i, seq=1000 * i, ack=7, flags=Flags.PSH | Flags.ACK,
                    window=512, options=(("NOP", None), ("NOP", None), ("Timestamp", (i, 9))), payload=bytes([i % 256]) * n)
            for i, n in enumerate(sizes)]
    before = time.time()
    for seg in sent:
        peer.send(encode(seg, lab.target_mac, endpoint.mac))
    deadline = time.time() + 2.0
    while len(endpoint.pending) < len(sent) and time.time() < deadline:
        endpoint.poll(0.1)
    got = list(endpoint.pending)
    endpoint.pending.clear()
    assert [g.segment.sport for g in got] == [s.sport for s in sent]
    for g, s in zip(got, sent, strict=True):
        assert g.checksum == "ok"
        assert g.segment.payload == s.payload and g.segment.seq == s.seq and g.segment.options == s.options
        assert before - 0.01 <= g.at <= time.time()  # the kernel's receive time, on the clock of time.time()
        assert g.frame == encode(s, lab.target_mac, endpoint.mac)  # the exact bytes, for the pcap
    return [g.segment for g in got]


def test_ring_delivers_frames_in_order_with_kernel_times(lab, peer: socket.socket) -> None:  # type: ignore[no-untyped-def]
    endpoint = RawEndpoint(lab.tester_if, lab.tester_ip, netns=lab.tester_ns, peer_ip=lab.linux_ip)
    try:
        assert endpoint.packets.has_ring, "this kernel offers PACKET_RX_RING"
        # More frames than fit in the ring once over (it wraps round), read in rounds as a run does.
        for _ in range(3):
            _segments_from_target(lab, endpoint, peer, [536] * 700 + [0, 1, 1400])
        assert endpoint.stats["received"] == 3 * 703
    finally:
        endpoint.close()


def test_a_frame_larger_than_a_ring_slot_arrives_whole(lab, peer: socket.socket) -> None:  # type: ignore[no-untyped-def]
    mtu = ["ip", "link", "set", "dev"]
    run_in_ns(lab.tester_ns, [*mtu, lab.tester_if, "mtu", "9000"])
    run_in_ns(lab.target_ns, [*mtu, lab.target_if, "mtu", "9000"])
    endpoint = RawEndpoint(lab.tester_if, lab.tester_ip, netns=lab.tester_ns, peer_ip=lab.linux_ip)
    try:
        got = _segments_from_target(lab, endpoint, peer, [100, RING_FRAME * 3, 200, 8000])
        assert [len(s.payload) for s in got] == [100, RING_FRAME * 3, 200, 8000]
    finally:
        endpoint.close()
        run_in_ns(lab.tester_ns, [*mtu, lab.tester_if, "mtu", "1500"])
        run_in_ns(lab.target_ns, [*mtu, lab.target_if, "mtu", "1500"])


def test_without_a_ring_the_socket_queue_gives_the_same(lab, peer: socket.socket,  # type: ignore[no-untyped-def]
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packet_socket.PacketSocket, "_map_ring", staticmethod(lambda sock: None))
    endpoint = RawEndpoint(lab.tester_if, lab.tester_ip, netns=lab.tester_ns, peer_ip=lab.linux_ip)
    try:
        assert not endpoint.packets.has_ring
        assert endpoint.resolve(lab.linux_ip) == lab.target_mac  # ARP through the queue too
        _segments_from_target(lab, endpoint, peer, [536] * 50 + [0, 1400])
    finally:
        endpoint.close()



def test_frames_the_ring_had_no_room_for_are_counted(lab, peer: socket.socket) -> None:  # type: ignore[no-untyped-def]
    endpoint = RawEndpoint(lab.tester_if, lab.tester_ip, netns=lab.tester_ns, peer_ip=lab.linux_ip)
    try:
        assert endpoint.dropped() == 0
        seg = Segment(lab.linux_ip, lab.tester_ip, 8000, 41000, seq=1, ack=7, flags=Flags.ACK, window=512)
        frame = encode(seg, lab.target_mac, endpoint.mac)
        for _ in range(RING_FRAMES + 300):  # more than the ring holds, none read
            peer.send(frame)
        time.sleep(0.05)
        assert endpoint.dropped() >= 300
        endpoint.discard()
        assert endpoint.dropped() >= 300  # a running total: reading the kernel's counters resets them
    finally:
        endpoint.close()
