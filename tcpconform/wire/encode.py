"""Ethernet/IPv4/TCP and Ethernet/IPv6/TCP frames built with ``struct``: every frame sent, and the
pcaps of runs without a wire.

The raw-socket link sends what this builds (byte-identical to Scapy's build, tested), and an
in-process run's pcap is built from its segments the same way, checksums included, so neither
pays for Scapy.  This is the tester's per-segment cost on send: addresses are packed once per
address, options once per distinct option list, and the checksums summed as one big integer.
"""

from __future__ import annotations

import functools
import ipaddress
import struct
from collections.abc import Iterable
from typing import Any

from tcpconform.tcp.segment import Segment

TESTER_MAC = bytes.fromhex("020000000001")
TARGET_MAC = bytes.fromhex("020000000002")
_TCP = struct.Struct("!HHIIHHHH")
_IP4 = struct.Struct("!BBHHHBBH4s4s")
_CHKSUM = struct.Struct("!H")


def internet_checksum(data: bytes | bytearray) -> int:
    """The Internet checksum (RFC 1071) of ``data``.

    The data read as one integer is, modulo 0xFFFF, the one's complement sum of its 16-bit words
    (2**16 is 1 modulo 0xFFFF): one C-level division instead of a sum over words.  Read
    little-endian (twice as fast as big-endian) it sums the byte-swapped words, 256 times the sum
    (RFC 1071 2(B)), and an odd last byte needs no zero after it.  The sum folds to 0xFFFF, not 0,
    unless every word is zero.
    """
    value = int.from_bytes(data, "little")
    rest = (value % 0xFFFF) * 256 % 0xFFFF
    return 0xFFFF - rest if rest or not value else 0


@functools.lru_cache(maxsize=4096)
def packed_address(text: str) -> bytes:
    """An IP address as bytes; the same few addresses are on every segment of a run."""
    return ipaddress.ip_address(text).packed


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


def _tcp_bytes(seg: Segment, chksum: int) -> bytearray:
    opts = encode_options(seg.options)
    dataofs = seg.dataofs if seg.dataofs is not None else 5 + len(opts) // 4
    offset_flags = ((dataofs & 0xF) << 12) | ((seg.reserved & 0x7) << 9) | (int(seg.flags) & 0x1FF)
    out = bytearray(_TCP.pack(seg.sport, seg.dport, seg.seq & 0xFFFFFFFF, seg.ack & 0xFFFFFFFF,
                              offset_flags, seg.window & 0xFFFF, chksum, seg.urgptr & 0xFFFF))
    out += opts
    out += seg.payload
    return out


def _pseudo(src: bytes, dst: bytes, length: int) -> bytes:
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, 6, length)
    return src + dst + struct.pack("!I3xB", length, 6)


def tcp_checksum(seg: Segment) -> int:
    """The correct TCP checksum of ``seg`` (IPv4 or IPv6 pseudo-header), whatever ``seg.chksum`` says."""
    tcp = _tcp_bytes(seg, 0)
    return internet_checksum(_pseudo(packed_address(seg.src), packed_address(seg.dst), len(tcp)) + tcp)


def _final_tcp(seg: Segment, src: bytes, dst: bytes) -> bytearray:
    """The TCP header and payload with the checksum the segment asks for: correct unless it fixes its
    own (``chksum`` a number) or asks for a bad one (``chksum="bad"``: the correct one, inverted)."""
    tcp = _tcp_bytes(seg, 0)
    given = seg.chksum
    if isinstance(given, int):
        chksum = given
    else:
        chksum = internet_checksum(_pseudo(src, dst, len(tcp)) + tcp)
        if given == "bad":
            chksum ^= 0xFFFF
    _CHKSUM.pack_into(tcp, 16, chksum)
    return tcp


def encode(seg: Segment, src_mac: bytes = TESTER_MAC, dst_mac: bytes = TARGET_MAC) -> bytes:
    """The Ethernet frame carrying ``seg`` (IPv4, TTL 64, DF; or IPv6 when its addresses are), with
    correct checksums unless the segment fixes its own (``chksum``) or asks for a bad one."""
    src, dst = packed_address(seg.src), packed_address(seg.dst)
    tcp = _final_tcp(seg, src, dst)
    if len(src) == 16:
        return b"".join((dst_mac, src_mac, ETH_P_IPV6, _IP6.pack(6 << 28, len(tcp), 6, HOP_LIMIT, src, dst), tcp))
    ip = bytearray(_IP4.pack(0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst))
    _CHKSUM.pack_into(ip, 10, internet_checksum(ip))
    return b"".join((dst_mac, src_mac, b"\x08\x00", ip, tcp))


ETH_P_IPV6 = b"\x86\xdd"
HOP_LIMIT = 64
"""Hop limit of the tester's IPv6 packets: Scapy's default, and the common host default (RFC 8200
leaves it to the host; it only has to reach a neighbour)."""
_IP6 = struct.Struct("!IHBB16s16s")


def ipv6_header(src: str, dst: str, next_header: int, payload_len: int, hop_limit: int = HOP_LIMIT) -> bytes:
    """The fixed IPv6 header (RFC 8200 3): version 6, traffic class 0, flow label 0."""
    return _IP6.pack(6 << 28, payload_len, next_header, hop_limit, packed_address(src), packed_address(dst))

