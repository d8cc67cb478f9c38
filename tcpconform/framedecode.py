"""Ethernet frames to segments with ``struct``: the receive path's decoder.

Every frame the raw socket hands over passes through here, so this is the tester's per-segment
cost on receive.  Dissecting with Scapy cost tens of microseconds a frame; this reads the few fixed
fields directly.  Its answers are Scapy's, value for value (option names and value shapes, how a
bad data offset, a truncated header, Ethernet padding or an IP length that lies are read): the
tests compare it with :func:`tcpconform.wire.decode_scapy`, the Scapy dissection it replaced,
over the frames of real runs and over random and malformed ones.

Only the frame shapes the link's kernel filter admits are decoded: Ethernet II with IPv4 or IPv6
(no extension headers) carrying TCP, ARP, and ICMPv6, which is handed over undissected.  A TCP
header inside a tunnel, a fragment or anything else is ``None``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from socket import AF_INET6, inet_ntoa, inet_ntop
from typing import Any

from .segment import Flags, Option, Segment

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
IPPROTO_TCP = 6
IPPROTO_ICMPV6 = 58


@dataclass(frozen=True, slots=True)
class Arp:
    op: int
    """1 request, 2 reply."""
    hwsrc: str
    psrc: str
    hwdst: str
    pdst: str


@dataclass(frozen=True, slots=True)
class Icmp6:
    """An ICMPv6 message, untouched: neighbour discovery is the caller's business, not the decoder's."""

    src: str
    dst: str
    hlim: int
    """The hop limit: neighbour discovery messages are only valid with 255 (RFC 4861 7.1.1)."""
    message: bytes
    """From the ICMPv6 type byte on, cut to the IPv6 payload length."""


@dataclass(frozen=True, slots=True)
class Frame:
    src_mac: str
    dst_mac: str
    segment: Segment | None = None
    arp: Arp | None = None
    checksum_ok: bool = True
    icmp6: Icmp6 | None = None


_FLAGS = [Flags(i) for i in range(512)]
"""``Flags(value)`` costs more than the rest of a header's decoding: build each of the 512 once."""

_IP4 = struct.Struct("!BBHHHBBH4s4s")
_IP6 = struct.Struct("!IHBB16s16s")
_TCP = struct.Struct("!HHIIHHHH")
_ARP = struct.Struct("!HHBBH")

# Scapy's TCP option table (scapy.layers.inet.TCPOptions), with the formats that unpack each value.
_OPTIONS: dict[int, tuple[str, str | None]] = {
    2: ("MSS", "!H"), 3: ("WScale", "!B"), 4: ("SAckOK", None), 5: ("SAck", "!"), 8: ("Timestamp", "!II"),
    14: ("AltChkSum", "!BH"), 15: ("AltChkSumOpt", None), 19: ("MD5", "16s"), 25: ("Mood", "!p"),
    28: ("UTO", "!H"), 29: ("AO", None), 34: ("TFO", "!II"),
}
_STRUCTS = {kind: struct.Struct(fmt) for kind, (_, fmt) in _OPTIONS.items() if fmt and kind != 5}
_VALUELESS = frozenset({"SAckOK"})


def decode(data: bytes) -> Frame | None:
    """The TCP segment, ARP message or ICMPv6 message in an Ethernet frame; ``None`` for anything else."""
    if len(data) < 14:
        return None
    ethertype = data[12] << 8 | data[13]
    if ethertype == ETH_P_IP:
        return _ipv4(data)
    if ethertype == ETH_P_IPV6:
        return _ipv6(data)
    if ethertype == ETH_P_ARP:
        return _arp(data)
    return None


def _macs(data: bytes) -> tuple[str, str]:
    return data[6:12].hex(":"), data[0:6].hex(":")


def _ipv4(data: bytes) -> Frame | None:
    if len(data) < 34:
        return None
    vihl, _tos, total, _id, frag, _ttl, proto, _sum, src, dst = _IP4.unpack_from(data, 14)
    if proto != IPPROTO_TCP or frag & 0x1FFF:  # Scapy reads TCP only in a first (or whole) fragment
        return None
    header = (vihl & 0x0F) * 4
    if header < 20:
        return None
    start = 14 + header
    if start > len(data):
        return None
    rest = data[start:]
    length = total - header  # what the IP header says the TCP segment is; it may lie either way
    tcp = rest[:length] if length >= 0 else rest
    route_dst = _source_route(data[34:start]) if header > 20 else None
    pseudo = (src + (route_dst or dst) + struct.pack("!HH", IPPROTO_TCP, max(length, 0)))
    return _tcp(data, _address(src), _address(dst), rest, tcp, length, pseudo + rest[:length])


def _source_route(options: bytes) -> bytes | None:
    """The final destination of a loose or strict source route, which the TCP checksum covers."""
    found: list[bytes] = []
    i = 0
    while i < len(options):
        kind = options[i]
        if kind in (0, 1):  # Scapy reads on after an end-of-list
            i += 1
            continue
        size = options[i + 1] if i + 1 < len(options) else 0
        if kind in (131, 137):
            routers = options[i + 3:i + size]
            if len(routers) % 4:
                break  # Scapy gives up on the rest of the options
            found.append(routers)
        i += max(size, 2)
    if len(found) == 1 and len(found[0]) >= 4:
        return found[0][(len(found[0]) // 4 - 1) * 4:][:4]
    return None


def _ipv6(data: bytes) -> Frame | None:
    if len(data) < 54:
        return None
    _vtf, length, nh, hlim, src, dst = _IP6.unpack_from(data, 14)
    rest = data[54:]
    if nh == IPPROTO_ICMPV6:
        src_mac, dst_mac = _macs(data)
        return Frame(src_mac, dst_mac, icmp6=Icmp6(inet_ntop(AF_INET6, src), inet_ntop(AF_INET6, dst), hlim,
                                                   rest[:length]))
    if nh != IPPROTO_TCP:
        return None
    tcp = rest[:length]
    pseudo = src + dst + struct.pack("!I3xB", len(tcp), IPPROTO_TCP)
    return _tcp(data, inet_ntop(AF_INET6, src), inet_ntop(AF_INET6, dst), rest, tcp, length, pseudo + tcp)


def _tcp(data: bytes, src: str, dst: str, rest: bytes, tcp: bytes, length: int, summed: bytes) -> Frame | None:
    """The segment in ``tcp`` (the IP payload as its header bounds it; ``rest`` runs to the frame's end)."""
    if len(tcp) < 20:
        return None
    sport, dport, seq, ack, word, window, chksum, urgptr = _TCP.unpack_from(tcp)
    dataofs = word >> 12
    opsz = (dataofs - 5) * 4 if dataofs > 5 else 0
    try:
        options = _options(tcp[20:20 + opsz]) if opsz else ()
    except _Undecodable:
        return None
    # As Scapy reads it: the data runs on into Ethernet padding, cut where the IP length says it ends.
    payload = rest[20 + opsz:][:max(0, length - dataofs * 4)]
    seg = Segment(src, dst, sport, dport, seq, ack, _FLAGS[word & 0x1FF], window, urgptr, options, payload,
                  (word >> 9) & 7, chksum, dataofs)
    src_mac, dst_mac = _macs(data)
    return Frame(src_mac, dst_mac, seg, None, checksum_ok(summed))


class _Undecodable(Exception):
    """A header Scapy cannot dissect: the frame is not a segment."""


def checksum_ok(data: bytes) -> bool:
    """Whether ``data`` (pseudo-header first) adds up to 0xFFFF in one's complement arithmetic.

    A big integer modulo 0xFFFF is the one's complement sum of its 16-bit words (2**16 is 1 modulo
    0xFFFF), computed in C; the sum is 0xFFFF exactly when that is 0 and some word is not zero.
    """
    if len(data) & 1:
        data += b"\0"
    value = int.from_bytes(data, "big")
    return value % 0xFFFF == 0 and value != 0


_NOP: Option = ("NOP", None)
_TS_PREFIX = b"\x01\x01\x08\x0a"
_TS = struct.Struct("!II")
_seen_options: dict[bytes, tuple[Option, ...]] = {}
_seen_addresses: dict[bytes, str] = {}


def _address(raw: bytes) -> str:
    """An IPv4 address as text; a run sees the same two over and over."""
    text = _seen_addresses.get(raw)
    if text is None:
        if len(_seen_addresses) >= 4096:
            _seen_addresses.clear()
        text = _seen_addresses[raw] = inet_ntoa(raw)
    return text


def _options(raw: bytes) -> tuple[Option, ...]:
    """TCP options as Scapy reads them, from a cache: a connection repeats its option bytes."""
    if len(raw) == 12 and raw.startswith(_TS_PREFIX):  # Linux's every segment once timestamps are on
        return (_NOP, _NOP, ("Timestamp", _TS.unpack_from(raw, 4)))
    out = _seen_options.get(raw)
    if out is None:
        if len(_seen_options) >= 1024:
            _seen_options.clear()
        out = _seen_options[raw] = _parse_options(raw)
    return out


def _parse_options(raw: bytes) -> tuple[Option, ...]:
    """TCP options as Scapy reads them (its ``TCPOptionsField.m2i``), value-less ones as ``None``."""
    out: list[Option] = []
    i, end = 0, len(raw)
    while i < end:
        kind = raw[i]
        if kind == 0:
            out.append(("EOL", None))
            break
        if kind == 1:
            out.append(("NOP", None))
            i += 1
            continue
        size = raw[i + 1] if i + 1 < end else 0
        if size < 2:
            size = 2
        value: Any = raw[i + 2:i + size]
        known = _OPTIONS.get(kind)
        if known is None:
            out.append((str(kind), value))
        else:
            name = known[0]
            if name in _VALUELESS:
                value = None
            elif kind == 29 and len(value) == 1:
                raise _Undecodable  # Scapy's TCP-AO value needs two bytes or none; it drops the segment
            elif kind == 5:
                if len(value) % 4 == 0:
                    value = struct.unpack(f"!{len(value) // 4}I", value)
                    if len(value) == 1:
                        value = value[0]
            else:
                unpacker = _STRUCTS.get(kind)
                if unpacker is not None and unpacker.size == len(value):
                    value = unpacker.unpack(value)
                    if len(value) == 1:
                        value = value[0]
            out.append((name, value))
        i += size
    return tuple(out)


def _arp(data: bytes) -> Frame | None:
    if len(data) < 22:
        return None
    hwtype, ptype, hwlen, plen, op = _ARP.unpack_from(data, 14)
    i = 22
    fields: list[Any] = []
    for kind in ("hw", "p", "hw", "p"):
        size = hwlen if kind == "hw" else plen
        raw = data[i:i + size]
        if kind == "hw" and hwtype == 1 and hwlen == 6:
            if len(raw) < 6:
                return None
            fields.append(raw.hex(":"))
        elif kind == "p" and ptype == ETH_P_IP and plen == 4:
            if len(raw) < 4:
                return None
            fields.append(inet_ntoa(raw))
        elif kind == "p" and ptype == ETH_P_IPV6 and plen == 16:
            if len(raw) < 16:
                return None
            fields.append(inet_ntop(AF_INET6, raw))
        else:
            fields.append(raw)
        i += size
    src_mac, dst_mac = _macs(data)
    return Frame(src_mac, dst_mac, arp=Arp(op, *fields))
