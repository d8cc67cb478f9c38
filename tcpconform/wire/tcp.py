"""The TCP header and its options, built and read with ``struct``.

Built: byte-identical to what Scapy builds (tested), options packed once per distinct option list.
Read: value for value what Scapy's dissector reads (option names and value shapes, a bad data
offset, Ethernet padding, an IP length that lies either way), which the tests check against
:mod:`tcpconform.bench.scapy_reference` over the frames of real runs and random and malformed ones.
Option kinds, names and value layouts are :mod:`tcpconform.tcp.options`'s.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable
from typing import Any

from tcpconform.tcp.options import AO, BY_NUMBER, EOL, NOP, RAW, SACK, SPOKEN, TIMESTAMP, layout_of
from tcpconform.tcp.segment import Flags, Option, Segment
from tcpconform.wire.checksum import internet_checksum, packed_address, pseudo_header
from tcpconform.wire.slotted import slotted_constructor

IPPROTO_TCP = 6
HEADER = struct.Struct("!HHIIHHHH")
_CHKSUM = struct.Struct("!H")
_KIND_LEN = struct.Struct("!BB")


# -- building ----------------------------------------------------------------------------------------
def encode_options(options: Iterable[tuple[str, Any]]) -> bytes:
    """TCP options as they go on the wire, padded with EOL bytes; ``ValueError`` for an unknown shape."""
    if isinstance(options, tuple):
        try:
            return _encode_options_cached(options)
        except TypeError:  # an unhashable value: encode it afresh
            pass
    return _encode_options(options)


@functools.lru_cache(maxsize=1024)
def _encode_options_cached(options: tuple[tuple[str, Any], ...]) -> bytes:
    return _encode_options(options)


def _encode_options(options: Iterable[tuple[str, Any]]) -> bytes:
    out = bytearray()
    for kind, value in options:
        spoken = SPOKEN.get(kind)
        if spoken is None:
            if kind == RAW:
                out += bytes(value)  # verbatim: kind, length and data as written, malformed ones included
            elif str(kind).isdigit():
                raw = bytes(value or b"")
                out += _KIND_LEN.pack(int(kind), 2 + len(raw)) + raw
            else:
                raise ValueError(f"cannot encode option {kind!r}")
        elif not spoken.has_length:
            out.append(spoken.number)
        elif spoken.valueless or isinstance(value, bytes):
            # bytes a case gives a valueless kind go after its length, as given; so do the bytes a
            # value of the wrong size for its kind was decoded to (an MSS 3 bytes long), as received
            raw = bytes(value or b"")
            out += _KIND_LEN.pack(spoken.number, 2 + len(raw)) + raw
        elif spoken.number == SACK:
            out += struct.pack(f"!BB{len(value)}I", SACK, 2 + 4 * len(value), *value)
        else:
            layout = spoken.layout
            assert layout is not None  # every spoken kind with a value but SACK has a fixed layout
            arity = spoken.arity
            packed = layout.pack(*[value[i] for i in range(arity)]) if arity > 1 else layout.pack(value)
            out += _KIND_LEN.pack(spoken.number, 2 + layout.size) + packed
    out += b"\0" * (-len(out) % 4)
    return bytes(out)


def malformed_at(options: bytes) -> int | None:
    """Where an option list stops parsing (a length below 2, or past the end), or ``None``.

    RFC 9293 3.1: every kind but EOL and NOP carries a length; one below 2 (a parser looping on a
    zero length) or running past the header is illegal, and a stack must survive it (MUST-7).
    """
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == EOL:
            return None
        if kind == NOP:
            i += 1
            continue
        if i + 1 >= len(options) or options[i + 1] < 2 or i + options[i + 1] > len(options):
            return i
        i += options[i + 1]
    return None


def after_eol(options: bytes) -> int | None:
    """Where the bytes after an option list's EOL start, or ``None`` (no EOL; a list that does not
    parse stops the walk where it stops parsing)."""
    i = 0
    while i < len(options):
        if options[i] == EOL:
            return i + 1
        if options[i] == NOP:
            i += 1
        elif i + 1 >= len(options) or options[i + 1] < 2:
            return None
        else:
            i += options[i + 1]
    return None


def _with_tail(opts: bytes, tail: bytes) -> bytes:
    """``opts`` with ``tail`` in place of the zeros after its EOL, padded to whole words again."""
    at = after_eol(opts)
    if at is None:
        opts, at = opts.rstrip(b"\0") + bytes([EOL]), len(opts.rstrip(b"\0")) + 1
    out = opts[:at] + tail
    return out + b"\0" * (-len(out) % 4)


def _unsummed(seg: Segment) -> bytearray:
    """The TCP header and payload of ``seg`` with a zero checksum."""
    opts = encode_options(seg.options)
    if seg.eol_tail:
        opts = _with_tail(opts, seg.eol_tail)
    dataofs = seg.dataofs if seg.dataofs is not None else 5 + len(opts) // 4
    offset_flags = ((dataofs & 0xF) << 12) | ((seg.reserved & 0x7) << 9) | (int(seg.flags) & 0x1FF)
    out = bytearray(HEADER.pack(seg.sport, seg.dport, seg.seq & 0xFFFFFFFF, seg.ack & 0xFFFFFFFF,
                                offset_flags, seg.window & 0xFFFF, 0, seg.urgptr & 0xFFFF))
    out += opts
    out += seg.payload
    return out


def tcp_checksum(seg: Segment) -> int:
    """The correct TCP checksum of ``seg`` (IPv4 or IPv6 pseudo-header), whatever ``seg.chksum`` says."""
    tcp = _unsummed(seg)
    src, dst = packed_address(seg.src), packed_address(seg.dst)
    return internet_checksum(pseudo_header(src, dst, IPPROTO_TCP, len(tcp)) + tcp)


def tcp_bytes(seg: Segment, src: bytes, dst: bytes) -> bytearray:
    """The TCP header and payload with the checksum the segment asks for: correct unless it fixes its
    own (``chksum`` a number) or asks for a bad one (``chksum="bad"``: the correct one with its lowest
    bit flipped).  Not inverted: in ones'-complement arithmetic 0x0000 and 0xFFFF are the same number,
    so the inverse of a correct 0xFFFF (or 0x0000) is a correct checksum too, and a conformant stack
    would rightly take the "bad" segment (about 2 runs in 65,536)."""
    tcp = _unsummed(seg)
    given = seg.chksum
    if isinstance(given, int):
        chksum = given
    else:
        chksum = internet_checksum(pseudo_header(src, dst, IPPROTO_TCP, len(tcp)) + tcp)
        if given == "bad":
            chksum ^= 0x0001
    _CHKSUM.pack_into(tcp, 16, chksum)
    return tcp


# -- reading -----------------------------------------------------------------------------------------
class Undecodable(Exception):
    """A header Scapy cannot dissect: the frame is not a segment."""


_segment = slotted_constructor(Segment)
_FLAGS = [Flags(i) for i in range(512)]
"""``Flags(value)`` costs more than the rest of a header's decoding: build each of the 512 once."""


def parse_tcp(data: bytes, src: str, dst: str, start: int, tcp_end: int, summed_end: int, length: int,
              pseudo: int) -> tuple[Segment, bool] | None:
    """The segment from ``start`` to ``tcp_end`` (where the IP header bounds it), offsets into the
    frame, and whether its checksum is right; ``None`` if it is no segment.

    ``length`` is what the IP header says the segment is; ``pseudo`` the pseudo-header as an
    integer, to which the bytes up to ``summed_end`` add for the checksum.
    """
    if tcp_end - start < 20:
        return None
    sport, dport, seq, ack, word, window, chksum, urgptr = HEADER.unpack_from(data, start)
    dataofs = word >> 12
    eol_tail = b""
    at = start + 20
    if dataofs > 5:
        opsz = (dataofs - 5) * 4
        raw = data[at:min(at + opsz, tcp_end)]
        try:
            options = _options(raw)
        except Undecodable:
            return None
        if options and options[-1][0] == "EOL":
            start_tail = after_eol(raw)
            tail = raw[start_tail:] if start_tail is not None else b""
            if any(tail):
                eol_tail = tail
        at += opsz
    else:
        options = ()
    # As Scapy reads it: the data runs on into Ethernet padding, cut where the IP length says it ends.
    payload = data[at:at + length - dataofs * 4] if length > dataofs * 4 else b""
    # The ones' complement sum of 16-bit words is their sum modulo 0xFFFF, and it is 0xFFFF (not 0) for
    # a right checksum, as the pseudo-header is never all zeros.  Read as one integer it is a C loop,
    # not a Python one per word; little-endian, it reads twice as fast and sums byte-swapped words,
    # which is the same sum times 256 (RFC 1071 2(B)), so the pseudo-header is shifted to match, and
    # an odd last byte needs no zero after it.
    summed = int.from_bytes(data[start:summed_end], "little") + (pseudo << 8)
    seg = _segment(src, dst, sport, dport, seq, ack, _FLAGS[word & 0x1FF], window, urgptr, options, payload,
                   (word >> 9) & 7, chksum, dataofs, eol_tail, None)
    return seg, summed % 0xFFFF == 0


_NOP: Option = ("NOP", None)
_TS_PREFIX = b"\x01\x01\x08\x0a"
_TS = layout_of(TIMESTAMP)
_seen_options: dict[bytes, tuple[Option, ...]] = {}


def _options(raw: bytes) -> tuple[Option, ...]:
    """TCP options as Scapy reads them, from a cache: a connection repeats its option bytes."""
    if len(raw) == 12 and raw.startswith(_TS_PREFIX):  # Linux's every segment once timestamps are on
        return (_NOP, _NOP, ("Timestamp", _TS.unpack_from(raw, 4)))
    out = _seen_options.get(raw)
    if out is None:
        if len(_seen_options) >= 1024:
            _seen_options.clear()
        out = _seen_options[raw] = parse_options(raw)
    return out


def parse_options(raw: bytes) -> tuple[Option, ...]:
    """TCP options as Scapy reads them (its ``TCPOptionsField.m2i``), value-less ones as ``None``;
    a list that does not parse (RFC 9293 3.1: an illegal length) stays bytes, as ``raw``.

    Raises :class:`Undecodable` where Scapy drops the segment.
    """
    if malformed_at(raw) is not None:
        return ((RAW, raw),)
    out: list[Option] = []
    i, end = 0, len(raw)
    while i < end:
        kind = raw[i]
        if kind == EOL:
            out.append(("EOL", None))
            break
        if kind == NOP:
            out.append(_NOP)
            i += 1
            continue
        size = raw[i + 1] if i + 1 < end else 0
        if size < 2:
            size = 2
        value: Any = raw[i + 2:i + size]
        known = BY_NUMBER.get(kind)
        if known is None:
            out.append((str(kind), value))
        else:
            if known.valueless:
                value = None
            elif kind == AO and len(value) == 1:
                raise Undecodable  # Scapy's TCP-AO value needs two bytes or none; it drops the segment
            elif kind == SACK:
                if len(value) % 4 == 0:
                    value = struct.unpack(f"!{len(value) // 4}I", value)
                    if len(value) == 1:
                        value = value[0]
            else:
                layout = known.layout
                if layout is not None and layout.size == len(value):
                    value = layout.unpack(value)
                    if len(value) == 1:
                        value = value[0]
            out.append((known.name, value))
        i += size
    return tuple(out)
