"""Properties of the frame decoder: no input makes it raise, its two entry points agree, a valid
segment comes back as it was sent, and a mutated frame reads as Scapy reads it.

The checks are the fuzz campaign's (:mod:`tcpconform.bench.fuzz`), on examples hypothesis draws."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from tcpconform.bench.fuzz import decoder_disagreement, roundtrip_mismatch
from tcpconform.bench.scapy_reference import decode_scapy
from tcpconform.tcp.segment import Flags, Option, Segment
from tcpconform.wire.frame import decode, encode

ETHERTYPES = st.sampled_from([b"\x08\x00", b"\x86\xdd", b"\x08\x06", b"\x81\x00", b"\x12\x34"])
u32 = st.integers(0, 2**32 - 1)
u16 = st.integers(0, 65535)
option: st.SearchStrategy[Option] = st.one_of(
    st.tuples(st.just("MSS"), u16), st.tuples(st.just("WScale"), st.integers(0, 255)),
    st.tuples(st.sampled_from(["SAckOK", "NOP"]), st.none()), st.tuples(st.just("Timestamp"), st.tuples(u32, u32)),
    st.tuples(st.just("SAck"), st.tuples(u32, u32)), st.tuples(st.just("253"), st.binary(max_size=6)),
)
SIZES = {"MSS": 4, "WScale": 3, "SAckOK": 2, "NOP": 1, "Timestamp": 10, "SAck": 10}
"""Bytes each named option takes on the wire (a numbered one: 2 and its value)."""
ipv4 = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
ipv6 = st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))


@st.composite
def segments(draw: st.DrawFn) -> Segment:
    family = draw(st.sampled_from([ipv4, ipv6]))
    options = tuple(draw(st.lists(option, max_size=4)))
    size = sum(SIZES[k] if k in SIZES else 2 + len(v) for k, v in options)
    return Segment(
        draw(family), draw(family), draw(u16), draw(u16), seq=draw(u32), ack=draw(u32),
        flags=Flags(draw(st.integers(0, 511))), window=draw(u16), urgptr=draw(u16),
        options=options if size <= 40 else (), payload=draw(st.binary(max_size=1600)), reserved=draw(st.integers(0, 7)),
    )


@given(st.binary(max_size=120), ETHERTYPES)
def test_random_bytes_never_raise_and_both_entry_points_agree(data: bytes, ethertype: bytes) -> None:
    assert decoder_disagreement(data) is None
    if len(data) >= 14:
        assert decoder_disagreement(data[:12] + ethertype + data[14:]) is None


@given(segments())
def test_a_valid_segment_comes_back_as_it_was_sent(seg: Segment) -> None:
    assert roundtrip_mismatch(seg) is None


@given(segments(), st.lists(st.tuples(st.sampled_from(["cut", "flip", "set", "insert"]), st.integers(0, 2000),
                                      st.integers(0, 255)), min_size=1, max_size=3))
def test_a_mutated_frame_never_raises_and_reads_as_scapy_reads_it(
        seg: Segment, mutations: list[tuple[str, int, int]]) -> None:
    frame = bytearray(encode(seg))
    for how, where, value in mutations:
        at = where % (len(frame) + 1)
        if how == "cut":
            del frame[at:]
        elif how == "insert":
            frame[at:at] = bytes([value])
        elif at < len(frame):
            frame[at] = frame[at] ^ (1 << value % 8) if how == "flip" else value
    assert decoder_disagreement(bytes(frame)) is None
    assert decode(bytes(frame)) == decode_scapy(bytes(frame)), bytes(frame).hex()
