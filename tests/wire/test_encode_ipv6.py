"""IPv6 frames and Neighbor Discovery: the struct-built bytes are the bytes Scapy builds, and they read back."""

from __future__ import annotations

import pytest

from tcpconform.tcp.segment import Flags, Segment
from tcpconform.wire import decode, encode, ndp
from tcpconform.wire.tcp import tcp_checksum

MAC1, MAC2 = b"\x02\0\0\0\0\x01", b"\x02\0\0\0\0\x02"
MACS = ("02:00:00:00:00:01", "02:00:00:00:00:02")
CASES = [
    Segment("fd00:7c:20::1", "fd00:7c:20::2", 40000, 8000, seq=0, flags=Flags.SYN, window=5000),
    Segment("fd00:7c:20::2", "fd00:7c:20::1", 8000, 40000, seq=0xFFFFFFF0, ack=1, flags=Flags.parse("P."),
            window=65535, payload=bytes(range(256)) * 5),
    Segment("2001:db8::1", "2001:db8::2", 1, 2, seq=5, ack=7, flags=Flags.parse("F."), window=1,
            options=(("MSS", 1220), ("NOP", None), ("SAckOK", None), ("WScale", 7), ("Timestamp", (1, 2)))),
    Segment("2001:db8::1", "2001:db8:ffff::2", 1, 2, seq=5, flags=Flags.RST, urgptr=3, reserved=2,
            options=(("253", b"\x01\x02"),)),
    Segment("fe80::1", "fe80::2", 65535, 1, seq=1, ack=2, flags=Flags.parse("SA"), window=0, options=(("MSS", 1440),)),
]


def _scapy_frame(seg: Segment) -> bytes:
    from scapy.layers.inet import TCP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    opts = [(int(k) if k.isdigit() else k, b"" if v is None and k == "SAckOK" else v) for k, v in seg.options]
    ref = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IPv6(src=seg.src, dst=seg.dst) / TCP(
        sport=seg.sport, dport=seg.dport, seq=seg.seq, ack=seg.ack, flags=int(seg.flags), window=seg.window,
        urgptr=seg.urgptr, reserved=seg.reserved, options=opts)
    if seg.payload:
        ref = ref / Raw(seg.payload)
    return bytes(ref)


@pytest.mark.parametrize("seg", CASES, ids=lambda s: f"{s.flags.tcpdump()}-{len(s.payload)}")
def test_ipv6_frames_match_scapy(seg: Segment) -> None:
    from scapy.layers.inet import TCP
    from scapy.layers.l2 import Ether

    mine = encode(seg, *MACS)
    assert mine == _scapy_frame(seg)
    assert mine[12:14] == b"\x86\xdd" and mine[20] == 6 and mine[21] == 64  # ethertype, next header, hop limit
    assert tcp_checksum(seg) == Ether(mine)[TCP].chksum


@pytest.mark.parametrize("seg", CASES, ids=lambda s: f"{s.flags.tcpdump()}-{len(s.payload)}")
def test_ipv6_frames_decode_to_the_segment(seg: Segment) -> None:
    frame = decode(encode(seg, *MACS) + b"\0" * 6)  # Ethernet padding is not payload
    assert frame is not None and frame.segment is not None and frame.checksum_ok
    got = frame.segment
    assert (got.src, got.dst, got.sport, got.dport, got.seq, got.ack, got.flags, got.window, got.payload) == (
        seg.src, seg.dst, seg.sport, seg.dport, seg.seq, seg.ack, seg.flags, seg.window, seg.payload)
    assert got.options == seg.options
    assert frame.src_mac == "02:00:00:00:00:01"


def test_a_bad_ipv6_checksum_is_seen() -> None:
    frame = decode(encode(CASES[0].with_(chksum="bad"), *MACS))
    assert frame is not None and frame.segment is not None and not frame.checksum_ok


def test_solicited_node_address_and_its_mac() -> None:
    assert ndp.solicited_node("fd00:7c:20::2") == "ff02::1:ff00:2"
    assert ndp.solicited_node("2001:db8::abcd:1234:5678") == "ff02::1:ff34:5678"
    assert ndp.multicast_mac("ff02::1:ff34:5678") == bytes.fromhex("3333ff345678")


def test_solicitation_is_what_scapy_builds() -> None:
    from scapy.layers.inet6 import ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, IPv6
    from scapy.layers.l2 import Ether

    mine = ndp.encode_solicitation(MAC1, "fd00:7c:20::1", "fd00:7c:20::2")
    ref = (Ether(src="02:00:00:00:00:01", dst="33:33:ff:00:00:02") / IPv6(src="fd00:7c:20::1", dst="ff02::1:ff00:2", hlim=255)
           / ICMPv6ND_NS(tgt="fd00:7c:20::2") / ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01"))
    assert mine == bytes(ref)


def test_advertisement_is_what_scapy_builds() -> None:
    from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
    from scapy.layers.l2 import Ether

    mine = ndp.encode_advertisement(MAC1, "fd00:7c:20::1", MAC2, "fd00:7c:20::2")
    ref = (Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IPv6(src="fd00:7c:20::1", dst="fd00:7c:20::2", hlim=255)
           / ICMPv6ND_NA(tgt="fd00:7c:20::1", R=0, S=1, O=1) / ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:01"))
    assert mine == bytes(ref)


def test_nd_messages_read_back() -> None:
    ns = decode(ndp.encode_solicitation(MAC1, "fd00:7c:20::1", "fd00:7c:20::2"))
    assert ns is not None and ns.nd == ndp.Neighbour("solicit", "fd00:7c:20::1", "ff02::1:ff00:2", "fd00:7c:20::2",
                                                     "02:00:00:00:00:01")
    na = decode(ndp.encode_advertisement(MAC2, "fd00:7c:20::2", MAC1, "fd00:7c:20::1"))
    assert na is not None and na.nd is not None
    assert (na.nd.kind, na.nd.target, na.nd.lladdr, na.nd.flags) == (
        "advert", "fd00:7c:20::2", "02:00:00:00:00:02", ndp.NA_SOLICITED | ndp.NA_OVERRIDE)


def test_an_answer_to_duplicate_address_detection_goes_to_all_nodes() -> None:
    frame = decode(ndp.encode_advertisement(MAC1, "fd00:7c:20::1", MAC2, "::"))
    assert frame is not None and frame.nd is not None
    assert frame.dst_mac == "33:33:00:00:00:01" and frame.nd.dst == "ff02::1" and frame.nd.flags == ndp.NA_OVERRIDE


@pytest.mark.parametrize("damage", ["checksum", "hop-limit", "code"])
def test_invalid_nd_messages_are_dropped(damage: str) -> None:
    raw = bytearray(ndp.encode_solicitation(MAC1, "fd00:7c:20::1", "fd00:7c:20::2"))
    icmp = 14 + 40
    if damage == "checksum":
        raw[icmp + 2] ^= 0xFF
    elif damage == "hop-limit":
        raw[21] = 64  # not 255: it may have crossed a router (RFC 4861 7.1.1)
    else:
        raw[icmp + 1] = 1
    frame = decode(bytes(raw))
    assert frame is not None and frame.icmp6 is not None  # handed over as ICMPv6...
    assert frame.nd is None  # ...but not taken as neighbour discovery


def test_other_icmpv6_and_other_next_headers_are_not_ours() -> None:
    from scapy.layers.inet import UDP
    from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
    from scapy.layers.l2 import Ether

    echo = decode(bytes(Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / ICMPv6EchoRequest()))
    assert echo is not None and echo.segment is None and echo.nd is None
    assert decode(bytes(Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP())) is None
