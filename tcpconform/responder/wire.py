"""Header checks a receiving stack makes before TCP processing proper.

A :class:`~tcpconform.segment.Segment` leaves ``chksum`` and ``dataofs`` at ``None`` to mean "whatever
is correct"; a test case sets them to send a malformed segment on purpose.  A real stack silently
drops such a segment (RFC 9293 3.1: a bad checksum MUST be discarded; a data offset that does not
describe the header cannot be parsed), so the reference responder must too, or the test cases that
probe this could never fail.  To judge an explicit checksum the responder computes the right one,
serialising options the way Scapy does (same kinds, zero padding to a 4-byte boundary).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable

from ..segment import Option, Segment
from ..seqnum import MASK

TCP_PROTO = 6


def encode_options(options: Iterable[Option]) -> bytes:
    """Options as they go on the wire, padded with EOL bytes; ``ValueError`` for an unknown shape."""
    out = bytearray()
    for kind, value in options:
        if kind == "EOL":
            out.append(0)
        elif kind == "NOP":
            out.append(1)
        elif kind == "MSS":
            out += struct.pack("!BBH", 2, 4, value)
        elif kind == "WScale":
            out += struct.pack("!BBB", 3, 3, value)
        elif kind == "SAckOK":
            raw = bytes(value or b"")
            out += struct.pack("!BB", 4, 2 + len(raw)) + raw
        elif kind == "SAck":
            out += struct.pack("!BB", 5, 2 + 4 * len(value)) + b"".join(struct.pack("!I", v) for v in value)
        elif kind == "Timestamp":
            out += struct.pack("!BBII", 8, 10, value[0], value[1])
        elif str(kind).isdigit():
            raw = bytes(value or b"")
            out += struct.pack("!BB", int(kind), 2 + len(raw)) + raw
        else:
            raise ValueError(f"cannot encode option {kind!r}")
    out += b"\x00" * (-len(out) % 4)
    return bytes(out)


def _ones_complement_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def tcp_checksum(seg: Segment) -> int:
    """The correct TCP checksum of ``seg`` (IPv4 or IPv6 pseudo-header), ignoring ``seg.chksum``."""
    opts = encode_options(seg.options)
    dataofs = seg.dataofs if seg.dataofs is not None else (20 + len(opts)) // 4
    offset_flags = ((dataofs & 0xF) << 12) | ((seg.reserved & 0x7) << 9) | (int(seg.flags) & 0x1FF)
    header = struct.pack(
        "!HHIIHHHH", seg.sport, seg.dport, seg.seq & MASK, seg.ack & MASK, offset_flags,
        seg.window & 0xFFFF, 0, seg.urgptr & 0xFFFF,
    )
    tcp = header + opts + seg.payload
    src, dst = ipaddress.ip_address(seg.src), ipaddress.ip_address(seg.dst)
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, TCP_PROTO, len(tcp))
    else:
        pseudo = src.packed + dst.packed + struct.pack("!I3xB", len(tcp), TCP_PROTO)
    return (~_ones_complement_sum(pseudo + tcp)) & 0xFFFF


def malformed(seg: Segment) -> str | None:
    """Why a receiver would discard ``seg`` before TCP processing, or ``None`` if it would not."""
    if seg.dataofs is not None:
        try:
            natural = (20 + len(encode_options(seg.options))) // 4
        except ValueError:
            natural = None
        if seg.dataofs < 5:
            return f"data offset {seg.dataofs} is shorter than the 20-byte header"
        if natural is not None and seg.dataofs != natural:
            return f"data offset {seg.dataofs} does not match the header ({natural} words)"
    if seg.chksum is not None:
        try:
            correct = tcp_checksum(seg)
        except ValueError:
            return None  # options we cannot serialise: nothing to compare with, give the benefit of the doubt
        if seg.chksum != correct:
            return f"bad checksum {seg.chksum:#06x} (correct {correct:#06x})"
    return None
