"""Malformed headers are dropped silently; the deterministic stream is what it says."""

from __future__ import annotations

import pytest
from support.responder import IP, PEER_IP, F, Peer, show, to_established

from tcpconform.responder import Responder, ResponderConfig
from tcpconform.responder.checks import malformed, tcp_checksum
from tcpconform.tcp.payload import TARGET_SALT, TESTER_SALT, first_mismatch, stream_bytes
from tcpconform.tcp.segment import Segment


@pytest.mark.parametrize(
    "seg",
    [
        Segment(PEER_IP, IP, 40000, 8000, seq=0, flags=F.SYN, window=5000, options=(("MSS", 512),)),
        Segment(PEER_IP, IP, 40000, 8000, seq=7, ack=9, flags=F.ACK | F.PSH, window=1, payload=b"abc"),
        Segment(
            PEER_IP, IP, 1, 2, seq=1, flags=F.SYN | F.ECE | F.CWR, reserved=5, urgptr=3,
            options=(("MSS", 1460), ("NOP", None), ("WScale", 7), ("SAckOK", b""), ("Timestamp", (1, 0))),
        ),
        Segment("2001:db8::1", "2001:db8::2", 40000, 8000, seq=5, flags=F.ACK, payload=b"v6"),
    ],
    ids=["syn-mss", "data", "options-reserved", "ipv6"],
)
def test_checksum_matches_scapy(seg: Segment) -> None:
    scapy_all = pytest.importorskip("scapy.all")
    ip_layer = scapy_all.IPv6 if ":" in seg.src else scapy_all.IP
    pkt = ip_layer(src=seg.src, dst=seg.dst) / scapy_all.TCP(
        sport=seg.sport, dport=seg.dport, seq=seg.seq, ack=seg.ack, flags=int(seg.flags),
        window=seg.window, urgptr=seg.urgptr, reserved=seg.reserved, options=list(seg.options),
    ) / scapy_all.Raw(seg.payload)
    built = ip_layer(bytes(pkt))
    assert tcp_checksum(seg) == built[scapy_all.TCP].chksum
    assert malformed(seg.with_(chksum=built[scapy_all.TCP].chksum)) is None


def test_bad_checksum_dropped_silently() -> None:
    r = Responder(ResponderConfig(isn=100))
    p = Peer(r)
    syn = p.segment(F.SYN, seq=0)
    bad = syn.with_(chksum=(tcp_checksum(syn) + 1) & 0xFFFF)
    assert p.send(bad) == []
    assert r.dropped and "bad checksum" in r.dropped[0][1]
    assert show(p.send(syn.with_(chksum=tcp_checksum(syn)))) == ["S. 100 1"]


def test_zero_checksum_dropped_in_a_connection() -> None:
    p = to_established()
    seg = p.segment(F.ACK | F.PSH, payload=b"x" * 600)
    assert tcp_checksum(seg) != 0
    assert p.send(seg.with_(chksum=0)) == []
    assert p.r.app_read(p.key, 1000, 0.0) == b""


@pytest.mark.parametrize("dataofs", [0, 4, 6, 15])
def test_bad_data_offset_dropped(dataofs: int) -> None:
    p = Peer(Responder(ResponderConfig(isn=100)))
    assert p.send(p.segment(F.SYN, seq=0).with_(dataofs=dataofs)) == []


def test_right_data_offset_accepted() -> None:
    p = Peer(Responder(ResponderConfig(isn=100)))
    assert show(p.send(p.segment(F.SYN, seq=0, options=(("MSS", 512),)).with_(dataofs=6))) == ["S. 100 1"]


def test_segment_for_another_address_ignored() -> None:
    p = Peer(Responder(ResponderConfig(isn=100)))
    assert p.send(p.segment(F.SYN, seq=0).with_(dst="192.0.2.99")) == []


def test_stream_formula_and_salts() -> None:
    assert TESTER_SALT == 0 and TARGET_SALT == 1
    long = stream_bytes(0, 100_000)
    assert all(long[k] == ((k % 251) + (k // 251) * 7) & 0xFF for k in range(100_000))
    assert stream_bytes(0, 3, TARGET_SALT) == bytes([101, 102, 103])
    assert stream_bytes(300, 500) == long[300:800]
    assert stream_bytes(64_000, 1_000) == long[64_000:65_000]  # across the period
    assert stream_bytes(0, 512) != stream_bytes(256, 512)  # no short period: a shift shows


def test_stream_mismatch_position() -> None:
    data = bytearray(stream_bytes(10, 50))
    assert first_mismatch(bytes(data), 10) is None
    data[17] ^= 1
    assert first_mismatch(bytes(data), 10) == 17
    assert first_mismatch(stream_bytes(0, 5), 0, TARGET_SALT) == 0
    with pytest.raises(ValueError):
        stream_bytes(-1, 3)
