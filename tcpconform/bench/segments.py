"""What one segment costs the tester, sent and received, against the floor and against Scapy.

The floor is a plain ``send`` of a frame built beforehand, and a plain ``recv_into`` of one already
queued, on the same kind of socket (AF_PACKET, in a lab): one system call per frame and nothing
else.  The driver adds building or decoding the frame, the kernel timestamp, address resolution and
the link's bookkeeping; on receive it reads the kernel's packet ring, so it makes no system call per
frame at all, which is how it stays within a few times a floor that does nothing with the bytes.
Scapy is the other yardstick: the same segment built and dissected by the general-purpose packet library.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from tcpconform.tcp.segment import Flags, Segment
from tcpconform.wire.ethernet import ETH_P_ALL

SO_TIMESTAMPNS = 35
BATCH = 400
"""Frames queued before a receive measurement: well inside the socket buffers and the veth backlog."""


def _per_op(fn: Callable[[], object], count: int) -> float:
    """Seconds per call, the best of three rounds (the least disturbed by whatever else runs)."""
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(count):
            fn()
        best = min(best, (time.perf_counter() - t) / count)
    return best


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} us"


def sample_segments(src: str, dst: str) -> list[Segment]:
    """A SYN-ACK with Linux's options, and a data segment with timestamps: what a run mostly carries."""
    return [
        Segment(src, dst, 8000, 40000, seq=1, ack=2, flags=Flags.SYN | Flags.ACK, window=65160,
                options=(("MSS", 1460), ("SAckOK", None), ("Timestamp", (1, 2)), ("NOP", None), ("WScale", 7))),
        Segment(src, dst, 8000, 40000, seq=2, ack=2, flags=Flags.PSH | Flags.ACK, window=502,
                options=(("NOP", None), ("NOP", None), ("Timestamp", (3, 4))), payload=bytes(536)),
    ]


def scapy_frame(seg: Segment, src_mac: str, dst_mac: str) -> bytes:
    """The frame as Scapy assembles it (its options spelt Scapy's way)."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    opts = [(k, b"" if v is None and k == "SAckOK" else v) for k, v in seg.options]
    return bytes(Ether(src=src_mac, dst=dst_mac) / IP(src=seg.src, dst=seg.dst, flags="DF", id=0) / TCP(
        sport=seg.sport, dport=seg.dport, seq=seg.seq, ack=seg.ack, flags=int(seg.flags), window=seg.window,
        options=opts) / seg.payload)


def codec_figures(count: int) -> Iterator[str]:
    """Building and decoding a frame, CPU only: the struct codec against Scapy's."""
    from tcpconform.bench.scapy_reference import decode_scapy
    from tcpconform.wire import decode, encode

    macs = ("02:00:00:00:00:01", "02:00:00:00:00:02")
    for seg in sample_segments("198.18.30.2", "198.18.30.1"):
        frame = encode(seg, *macs)
        enc = _per_op(partial(encode, seg, *macs), count)
        enc_scapy = _per_op(partial(scapy_frame, seg, *macs), max(10, count // 20))
        dec = _per_op(partial(decode, frame), count)
        dec_scapy = _per_op(partial(decode_scapy, frame), max(10, count // 20))
        what = f"{seg.flags.tcpdump()} {len(seg.payload)} bytes, {len(seg.options)} options"
        yield (f"per segment ({what}): build {_us(enc)} vs Scapy {_us(enc_scapy)} ({enc_scapy / enc:.0f}x); "
               f"decode {_us(dec)} vs Scapy {_us(dec_scapy)} ({dec_scapy / dec:.0f}x)")


def _packet_socket(ns: str, iface: str) -> socket.socket:
    from tcpconform.lab.netns import in_netns

    with in_netns(ns):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        sock.bind((iface, ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setblocking(False)
    return sock


def _drain(sock: socket.socket) -> None:
    try:
        while True:
            sock.recv(65536)
    except BlockingIOError:
        pass


def lab_segment_figures(lab: Any, count: int) -> Iterator[str]:
    """Per segment on a lab's veth: the driver's send and receive against the raw socket and against Scapy.

    Segments sent carry a bad checksum, so the target's kernel drops them without a word; segments
    received are sent from the target namespace's own raw socket, so only the tester's side is timed.
    """
    from tcpconform.bench.scapy_reference import decode_scapy
    from tcpconform.links.rawsock import RawEndpoint, RawSocketLink
    from tcpconform.wire import encode

    endpoint = RawEndpoint(lab.tester_if, lab.tester_ip, netns=lab.tester_ns, peer_ip=lab.linux_ip)
    link = RawSocketLink(endpoint, lab.linux_ip)
    floor = _packet_socket(lab.tester_ns, lab.tester_if)
    peer = _packet_socket(lab.target_ns, lab.target_if)
    try:
        out, back = sample_segments(lab.tester_ip, lab.linux_ip)[1], sample_segments(lab.linux_ip, lab.tester_ip)[1]
        out = out.with_(chksum="bad")
        target_mac = endpoint.neighbours[lab.linux_ip]
        frame = encode(out, endpoint.mac, target_mac)
        send_floor = _per_op(lambda: floor.send(frame), count)
        send_driver = _per_op(lambda: link.send(out), count)
        send_scapy = _per_op(lambda: floor.send(scapy_frame(out, endpoint.mac, target_mac)), max(10, count // 10))
        yield (f"send per segment, lab veth: raw socket {_us(send_floor)}, driver {_us(send_driver)} "
               f"({send_driver / send_floor:.1f}x the raw floor), Scapy-built {_us(send_scapy)} "
               f"({send_scapy / send_driver:.1f}x the driver)")

        incoming = encode(back, target_mac, endpoint.mac)
        buf = bytearray(65536)
        view = memoryview(buf)

        def batch(receive: Callable[[], object]) -> float:
            _drain(floor)
            endpoint.discard()
            for _ in range(BATCH):
                peer.send(incoming)
            time.sleep(0.02)  # let the kernel deliver them all: only reading them is timed
            t = time.perf_counter()
            for _ in range(BATCH):
                receive()
            return (time.perf_counter() - t) / BATCH

        def recv_floor() -> None:
            while True:
                try:
                    floor.recv_into(buf)
                    return
                except BlockingIOError:
                    pass

        def recv_scapy() -> None:
            while True:
                try:
                    n = floor.recv_into(buf)
                    decode_scapy(bytes(view[:n]))
                    return
                except BlockingIOError:
                    pass

        def recv_stamped() -> None:
            while True:
                try:
                    floor.recvmsg_into([buf], 64)
                    return
                except BlockingIOError:
                    pass

        rounds = max(3, count // BATCH)
        recv_floor_t = min(batch(recv_floor) for _ in range(rounds))
        recv_stamped_t = min(batch(recv_stamped) for _ in range(rounds))
        recv_driver = min(batch(lambda: link.receive(1.0)) for _ in range(rounds))
        recv_scapy_t = min(batch(recv_scapy) for _ in range(3))
        yield (f"receive per segment, lab veth: raw socket {_us(recv_floor_t)}, driver {_us(recv_driver)} "
               f"({recv_driver / recv_floor_t:.1f}x the raw floor), Scapy-dissected {_us(recv_scapy_t)} "
               f"({recv_scapy_t / recv_driver:.1f}x the driver)")
        yield (f"  the same socket call with the kernel's receive timestamp (recvmsg): {_us(recv_stamped_t)}, "
               f"driver {recv_driver / recv_stamped_t:.1f}x that; {BATCH} frames queued per round")
    finally:
        for sock in (floor, peer):
            sock.close()
        link.close()
