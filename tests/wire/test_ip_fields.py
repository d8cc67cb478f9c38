"""IP-level fields on the wire: TTL, TOS, IPv4 options and an IPv6 Destination Options header are
built byte for byte as Scapy builds them (header length, header checksum, next-header chain, the
TCP checksum over the real addresses), and the decoder reads them back as Scapy does."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, IPOption
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from tcpconform.bench.scapy_reference import decode_scapy
from tcpconform.tcp.ip import IpHeader, pad_dest_options
from tcpconform.tcp.segment import Flags, Segment
from tcpconform.wire import decode, encode
from tcpconform.wire.ip import claims_more

MACS = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}
NOP, END = bytes([1]), bytes([0])
TIMESTAMP = bytes([68, 12, 5, 0]) + bytes(8)
RECORD_ROUTE = bytes([7, 11, 4]) + bytes(8)
UNKNOWN = bytes([30, 4, 0xAB, 0xCD])


def _seg(src: str, dst: str, ip: IpHeader | None) -> Segment:
    return Segment(src, dst, 40000, 8000, seq=1, ack=101, flags=Flags.PSH | Flags.ACK, window=5000,
                   payload=b"0123456789", ip=ip)


def _scapy4(seg: Segment, options: bytes, ttl: int, tos: int) -> bytes:
    ip = IP(src=seg.src, dst=seg.dst, ttl=ttl, tos=tos, flags="DF", id=0, options=[IPOption(options)] if options else [])
    tcp = TCP(sport=seg.sport, dport=seg.dport, seq=seg.seq, ack=seg.ack, flags="PA", window=seg.window)
    return bytes(Ether(**MACS) / ip / tcp / Raw(seg.payload))


def test_ipv4_options_ttl_and_tos_are_scapys_bytes() -> None:
    options = NOP + TIMESTAMP + UNKNOWN
    seg = _seg("192.0.2.1", "192.0.2.2", IpHeader(ttl=7, tos=0x20, options=options))
    assert encode(seg, MACS["src"], MACS["dst"]) == _scapy4(seg, options + END * 3, 7, 0x20)


def test_a_spoofed_source_is_summed_in_the_tcp_checksum() -> None:
    seg = _seg("127.0.0.1", "192.0.2.2", None)
    frame = encode(seg, MACS["src"], MACS["dst"])
    assert frame == _scapy4(seg, b"", 64, 0)
    got = decode(frame)
    assert got is not None and got.checksum_ok and got.segment.with_(chksum=None, dataofs=None) == seg


def test_an_ipv6_destination_options_header_is_scapys_bytes() -> None:
    dest = bytes([0x1E, 2, 0, 0])
    seg = _seg("2001:db8::1", "2001:db8::2", IpHeader(ttl=9, tos=0x28, dest_options=dest))
    ref = (Ether(**MACS) / IPv6(src=seg.src, dst=seg.dst, hlim=9, tc=0x28)
           / IPv6ExtHdrDestOpt(options=[]) / TCP(sport=40000, dport=8000, seq=1, ack=101, flags="PA", window=5000)
           / Raw(seg.payload))
    ref[IPv6ExtHdrDestOpt].options = []
    raw = bytearray(bytes(ref))
    built = encode(seg, MACS["src"], MACS["dst"])
    # Scapy pads an empty header itself; compare against it with our option bytes in place
    assert built[54:56] == bytes([6, 0]) and built[56:62] == pad_dest_options(dest)
    assert len(built) == len(raw)
    assert Ether(built)[TCP].chksum == Ether(_recomputed(built))[TCP].chksum
    assert Ether(built)[IPv6].nh == 60 and Ether(built)[IPv6ExtHdrDestOpt].nh == 6


def _recomputed(frame: bytes) -> bytes:
    pkt = Ether(frame)
    del pkt[TCP].chksum
    return bytes(pkt)


def _fields(ttl: int, tos: int, items: list[bytes], v6: bool) -> IpHeader:
    if v6:
        return IpHeader(ttl, tos, b"", b"".join(items))
    return IpHeader(ttl, tos, b"".join(items))


V4_ITEMS = st.lists(st.sampled_from([NOP, TIMESTAMP, RECORD_ROUTE, UNKNOWN]), min_size=1, max_size=3)
V6_ITEMS = st.lists(st.sampled_from([bytes([0x1E, 2, 0, 0]), bytes([0x1E, 0]), bytes([0x3E, 5]) + bytes(5)]),
                    min_size=0, max_size=4)


@given(st.integers(1, 255), st.integers(0, 255), V4_ITEMS, V6_ITEMS, st.booleans(), st.binary(max_size=40))
def test_what_is_sent_reads_back_as_sent_and_as_scapy_reads_it(ttl: int, tos: int, v4: list[bytes], v6: list[bytes],
                                                               over_v6: bool, payload: bytes) -> None:
    src, dst = ("2001:db8::1", "2001:db8::2") if over_v6 else ("192.0.2.1", "192.0.2.2")
    seg = _seg(src, dst, _fields(ttl, tos, v6 if over_v6 else v4, over_v6)).with_(payload=payload)
    frame = encode(seg, MACS["src"], MACS["dst"])
    got = decode(frame)
    assert got is not None and got.checksum_ok
    assert got.segment.with_(chksum=None, dataofs=None) == seg
    assert decode_scapy(frame) == got
    pkt = Ether(frame)
    if not over_v6:
        checksum = pkt[IP].chksum
        del pkt[IP].chksum
        assert Ether(bytes(pkt))[IP].chksum == checksum and pkt[IP].ihl * 4 == 20 + -(-len(b"".join(v4)) // 4) * 4
    assert Ether(_recomputed(frame))[TCP].chksum == Ether(frame)[TCP].chksum


def test_a_lying_length_field_is_scapys_len_and_reads_back_with_a_failing_checksum() -> None:
    for delta in (20, -4, -0xFFFF):
        seg = _seg("192.0.2.1", "192.0.2.2", IpHeader(length_delta=delta))
        frame = encode(seg, MACS["src"], MACS["dst"])
        want = Ether(_scapy4(seg, b"", 64, 0))
        want[IP].len = max(want[IP].len + delta, 0)
        del want[IP].chksum  # Scapy sums the header anew with the length it is given
        assert frame == bytes(want), delta
        got = decode(frame)
        assert got.segment is not None and not got.checksum_ok, delta  # the checksum no longer holds
    six = _seg("2001:db8::1", "2001:db8::2", IpHeader(length_delta=-4))
    frame = encode(six, MACS["src"], MACS["dst"])
    assert int.from_bytes(frame[18:20], "big") == 20 + 10 - 4  # Payload Length
    got = decode(frame)
    assert got.segment is not None and not got.checksum_ok
    for delta, more in ((20, True), (-4, False), (0, False)):  # a field short of the frame is link padding's
        for src, dst in (("192.0.2.1", "192.0.2.2"), ("2001:db8::1", "2001:db8::2")):
            frame = encode(_seg(src, dst, IpHeader(length_delta=delta)), MACS["src"], MACS["dst"])
            assert claims_more(frame) is more, (delta, src)
            assert claims_more(frame + bytes(20)) is False  # padded past the claim
