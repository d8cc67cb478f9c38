"""Ethernet/IPv4/TCP frames built with ``struct``, for pcaps of runs that had no wire.

An in-process run has no frames, but its pcap must still open in Wireshark: this builds the frame a
segment would have been, checksums included, without importing Scapy (an in-process run never pays
for Scapy's import).  Runs on a wire record the exact frames instead (``SegmentRecord.frame``).
"""

from __future__ import annotations

import struct
from typing import Any

from .segment import Segment

TESTER_MAC = bytes.fromhex("020000000001")
TARGET_MAC = bytes.fromhex("020000000002")

_OPTION_KINDS = {"EOL": 0, "NOP": 1, "MSS": 2, "WScale": 3, "SAckOK": 4, "SAck": 5, "Timestamp": 8}


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ip(addr: str) -> bytes:
    return bytes(int(part) for part in addr.split("."))


def encode_options(options: tuple[tuple[str, Any], ...]) -> bytes:
    """TCP options in wire format, padded with EOL to a multiple of four bytes."""
    out = bytearray()
    for kind, value in options:
        code = _OPTION_KINDS.get(kind)
        if code in (0, 1):
            out.append(code)
        elif code == 2:
            out += struct.pack("!BBH", 2, 4, value)
        elif code == 3:
            out += struct.pack("!BBB", 3, 3, value)
        elif code == 4:
            out += b"\x04\x02"
        elif code == 5:
            out += struct.pack(f"!BB{len(value)}I", 5, 2 + 4 * len(value), *value)
        elif code == 8:
            out += struct.pack("!BBII", 8, 10, value[0], value[1])
        else:  # an unknown kind, its raw bytes as given
            raw = bytes(value or b"")
            out += bytes([int(kind), 2 + len(raw)]) + raw
    out += b"\0" * (-len(out) % 4)
    return bytes(out)


def encode(seg: Segment, src_mac: bytes = TESTER_MAC, dst_mac: bytes = TARGET_MAC) -> bytes:
    """The Ethernet frame carrying ``seg`` (IPv4, TTL 64, DF), with correct checksums unless the segment
    fixes its own (``chksum``) or asks for a bad one (``meta["bad_checksum"]``)."""
    opts = encode_options(seg.options)
    dataofs = seg.dataofs if seg.dataofs is not None else 5 + len(opts) // 4
    offset_flags = (dataofs << 12) | ((seg.reserved & 0x7) << 9) | (int(seg.flags) & 0x1FF)
    header = struct.pack("!HHIIHHHH", seg.sport, seg.dport, seg.seq, seg.ack, offset_flags, seg.window, 0,
                         seg.urgptr) + opts
    src, dst = _ip(seg.src), _ip(seg.dst)
    tcp_len = len(header) + len(seg.payload)
    pseudo = src + dst + struct.pack("!BBH", 0, 6, tcp_len)
    chksum = seg.chksum if seg.chksum is not None else _checksum(pseudo + header + seg.payload)
    if seg.meta.get("bad_checksum"):
        chksum ^= 0xFFFF
    tcp = header[:16] + struct.pack("!H", chksum) + header[18:] + seg.payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + tcp_len, 0, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + tcp
