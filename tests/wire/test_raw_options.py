"""Option bytes that do not parse: written with ``raw HEX``, sent verbatim, decoded as bytes."""

from __future__ import annotations

import pytest

from tcpconform.cases.notation import parse_segment
from tcpconform.cases.values import NotationError
from tcpconform.tcp.segment import Flags, Segment
from tcpconform.wire import decode, encode
from tcpconform.wire.ethernet import TARGET_MAC, TESTER_MAC
from tcpconform.wire.tcp import malformed_at


@pytest.mark.parametrize(("data", "at"), [
    (b"", None), (b"\x02\x04\x02\x00", None), (b"\x01\x01\x02\x04\x02\x00", None),
    (b"\xfd\x00\x00\x00", 0), (b"\x01\xfd\x01\x00", 1), (b"\x02\x08\x02\x00", 0), (b"\x02", 0),
    (b"\x00\xfd\x00\x00", None),  # after EOL nothing is read
])
def test_malformed_at_finds_the_first_illegal_length(data: bytes, at: int | None) -> None:
    assert malformed_at(data) == at


def test_raw_is_for_sending_only() -> None:
    spec = parse_segment("P. 1:11(10) ack 101 win 5000 <raw fd00>", send=True)
    assert spec.options.items[0].kind == "raw" and spec.options.items[0].value == b"\xfd\x00"  # type: ignore[union-attr]
    with pytest.raises(NotationError, match="'raw HEX' is for segments to send"):
        parse_segment(". 1:1(0) <raw fd00>", send=False)


@pytest.mark.parametrize(("src", "dst", "ip_len"), [("192.0.2.1", "192.0.2.2", 20), ("2001:db8::1", "2001:db8::2", 40)])
def test_a_malformed_option_list_goes_out_verbatim_and_comes_back_as_bytes(src: str, dst: str, ip_len: int) -> None:
    seg = Segment(src, dst, 40000, 8000, seq=1, ack=101, flags=Flags.ACK | Flags.PSH,
                  window=5000, options=(("raw", b"\xfd\x00"),), payload=b"x" * 10)
    frame = encode(seg, TESTER_MAC, TARGET_MAC)
    assert frame[14 + ip_len + 20: 14 + ip_len + 24] == b"\xfd\x00\x00\x00"
    got = decode(frame)
    assert got is not None and got.segment is not None and got.checksum_ok
    assert got.segment.options == (("raw", b"\xfd\x00\x00\x00"),)
    assert got.segment.payload == b"x" * 10
    assert "<raw fd000000>" in got.segment.summary()
