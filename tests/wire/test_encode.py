"""The struct-built frames (pcaps of in-process runs) are the frames Scapy would build."""

from __future__ import annotations

import pytest

from tcpconform.tcp.segment import Flags, Segment
from tcpconform.wire import encode
from tcpconform.wire.tcp import tcp_checksum

CASES = [
    Segment("198.18.0.1", "198.18.0.2", 40000, 8000, seq=0, flags=Flags.SYN, window=5000, options=(("MSS", 512),)),
    Segment("198.18.0.2", "198.18.0.1", 8000, 40000, seq=0xFFFFFFF0, ack=1, flags=Flags.parse("P."), window=65535,
            payload=bytes(range(256)) * 3),
    Segment("10.0.0.1", "10.0.0.2", 1, 2, seq=5, ack=7, flags=Flags.parse("F."), window=1,
            options=(("MSS", 1460), ("NOP", None), ("SAckOK", None), ("WScale", 7), ("Timestamp", (1, 2)))),
    Segment("10.0.0.1", "10.0.0.2", 1, 2, seq=5, flags=Flags.RST, urgptr=3, reserved=2, options=(("253", b"\x01\x02"),)),
]


@pytest.mark.parametrize("seg", CASES, ids=lambda s: s.flags.tcpdump())
def test_frames_match_scapy(seg: Segment) -> None:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    mine = encode(seg, "02:00:00:00:00:01", "02:00:00:00:00:02")
    opts = [(int(k) if k.isdigit() else k, b"" if v is None and k == "SAckOK" else v) for k, v in seg.options]
    ref = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=seg.src, dst=seg.dst, ttl=64, flags="DF", id=0) / TCP(
        sport=seg.sport, dport=seg.dport, seq=seg.seq, ack=seg.ack, flags=int(seg.flags), window=seg.window,
        urgptr=seg.urgptr, reserved=seg.reserved, options=opts)
    if seg.payload:
        ref = ref / Raw(seg.payload)
    assert mine == bytes(ref)
    assert tcp_checksum(seg) == Ether(mine)[TCP].chksum


def test_a_deliberately_bad_checksum_is_wrong() -> None:
    from scapy.layers.inet import TCP
    from scapy.layers.l2 import Ether

    seg = CASES[0].with_(chksum="bad")
    assert Ether(encode(seg))[TCP].chksum != tcp_checksum(seg)


@pytest.mark.parametrize("correct", [0x0000, 0xFFFF])
def test_a_bad_checksum_is_bad_even_where_the_correct_one_is_a_zero(correct: int) -> None:
    """0x0000 and 0xFFFF are the same number in ones'-complement arithmetic: the inverse of either
    verifies, so a "bad" checksum made by inverting would be taken by a conformant stack."""
    from tcpconform.wire.checksum import internet_checksum, packed_address, pseudo_header
    from tcpconform.wire.tcp import tcp_bytes

    src, dst = packed_address("192.0.2.1"), packed_address("192.0.2.2")

    def seg(word: int) -> Segment:
        return Segment(src="192.0.2.1", dst="192.0.2.2", sport=40000, dport=8000, seq=1, ack=1, flags=Flags.ACK,
                       window=5000, payload=word.to_bytes(2, "big"))

    def verifies(tcp: bytes) -> bool:
        return internet_checksum(pseudo_header(src, dst, 6, len(tcp)) + tcp) in (0x0000, 0xFFFF)

    word = next(w for w in range(0x10000) if int.from_bytes(tcp_bytes(seg(w), src, dst)[16:18], "big") == correct
                or (correct == 0xFFFF and int.from_bytes(tcp_bytes(seg(w), src, dst)[16:18], "big") == 0))
    good, bad = tcp_bytes(seg(word), src, dst), tcp_bytes(seg(word).with_(chksum="bad"), src, dst)
    assert verifies(good) and not verifies(bad)
