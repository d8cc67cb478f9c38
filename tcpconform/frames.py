"""Ethernet/IPv4/TCP and Ethernet/IPv6/TCP frames built with ``struct``, for the wire and for pcaps.

An in-process run has no frames, but its pcap must still open in Wireshark: this builds the frame a
segment would have been, checksums included, without importing Scapy (an in-process run never pays
for Scapy's import).  Runs on a wire record the exact frames instead (``SegmentRecord.frame``).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from typing import Any

from .segment import Segment

TESTER_MAC = bytes.fromhex("020000000001")
TARGET_MAC = bytes.fromhex("020000000002")

def internet_checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def encode_options(options: Iterable[tuple[str, Any]]) -> bytes:
    """TCP options as they go on the wire, padded with EOL bytes; ``ValueError`` for an unknown shape."""
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
            out += struct.pack(f"!BB{len(value)}I", 5, 2 + 4 * len(value), *value)
        elif kind == "Timestamp":
            out += struct.pack("!BBII", 8, 10, value[0], value[1])
        elif kind == "raw":
            out += bytes(value)  # verbatim: kind, length and data as written, malformed ones included
        elif str(kind).isdigit():
            raw = bytes(value or b"")
            out += struct.pack("!BB", int(kind), 2 + len(raw)) + raw
        else:
            raise ValueError(f"cannot encode option {kind!r}")
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
        if kind == 0:
            return None
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(options) or options[i + 1] < 2 or i + options[i + 1] > len(options):
            return i
        i += options[i + 1]
    return None


def _tcp_bytes(seg: Segment, chksum: int) -> bytes:
    opts = encode_options(seg.options)
    dataofs = seg.dataofs if seg.dataofs is not None else 5 + len(opts) // 4
    offset_flags = ((dataofs & 0xF) << 12) | ((seg.reserved & 0x7) << 9) | (int(seg.flags) & 0x1FF)
    return struct.pack("!HHIIHHHH", seg.sport, seg.dport, seg.seq & 0xFFFFFFFF, seg.ack & 0xFFFFFFFF,
                       offset_flags, seg.window & 0xFFFF, chksum, seg.urgptr & 0xFFFF) + opts + seg.payload


def _pseudo(seg: Segment, length: int) -> bytes:
    src, dst = ipaddress.ip_address(seg.src), ipaddress.ip_address(seg.dst)
    if src.version == 4:
        return src.packed + dst.packed + struct.pack("!BBH", 0, 6, length)
    return src.packed + dst.packed + struct.pack("!I3xB", length, 6)


def tcp_checksum(seg: Segment) -> int:
    """The correct TCP checksum of ``seg`` (IPv4 or IPv6 pseudo-header), whatever ``seg.chksum`` says."""
    tcp = _tcp_bytes(seg, 0)
    return internet_checksum(_pseudo(seg, len(tcp)) + tcp)


def _final_tcp(seg: Segment) -> bytes:
    """The TCP header and payload with the checksum the segment asks for: correct unless it fixes its
    own (``chksum``) or asks for a bad one (``meta["bad_checksum"]``)."""
    chksum = seg.chksum if seg.chksum is not None else tcp_checksum(seg)
    if seg.meta.get("bad_checksum"):
        chksum ^= 0xFFFF
    return _tcp_bytes(seg, chksum)


def encode(seg: Segment, src_mac: bytes = TESTER_MAC, dst_mac: bytes = TARGET_MAC) -> bytes:
    """The Ethernet frame carrying ``seg`` (IPv4, TTL 64, DF; or IPv6 when its addresses are), with
    correct checksums unless the segment fixes its own (``chksum``) or asks for a bad one."""
    if ":" in seg.src:
        return encode_ipv6(seg, src_mac, dst_mac)
    tcp = _final_tcp(seg)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, ipaddress.ip_address(seg.src).packed,
                     ipaddress.ip_address(seg.dst).packed)
    ip = ip[:10] + struct.pack("!H", internet_checksum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + tcp


ETH_P_IPV6 = b"\x86\xdd"
HOP_LIMIT = 64
"""Hop limit of the tester's IPv6 packets: Scapy's default, and the common host default (RFC 8200
leaves it to the host; it only has to reach a neighbour)."""


def ipv6_header(src: str, dst: str, next_header: int, payload_len: int, hop_limit: int = HOP_LIMIT) -> bytes:
    """The fixed IPv6 header (RFC 8200 3): version 6, traffic class 0, flow label 0."""
    return (struct.pack("!IHBB", 6 << 28, payload_len, next_header, hop_limit)
            + ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed)


def encode_ipv6(seg: Segment, src_mac: bytes = TESTER_MAC, dst_mac: bytes = TARGET_MAC) -> bytes:
    """The Ethernet/IPv6/TCP frame carrying ``seg`` (next header 6, no extension headers).

    The TCP checksum covers the IPv6 pseudo-header (RFC 8200 8.1); there is no IP header checksum.
    """
    tcp = _final_tcp(seg)
    return dst_mac + src_mac + ETH_P_IPV6 + ipv6_header(seg.src, seg.dst, 6, len(tcp)) + tcp
