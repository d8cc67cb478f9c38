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
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from socket import AF_INET6, inet_ntoa, inet_ntop
from typing import TYPE_CHECKING, Any, TypeVar

from tcpconform.tcp.segment import Flags, Option, Segment
from tcpconform.wire.encode import malformed_at

if TYPE_CHECKING:
    from tcpconform.wire.ndp import Neighbour

T = TypeVar("T")

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
IPPROTO_TCP = 6
IPPROTO_ICMPV6 = 58


def slotted_constructor(cls: type[T]) -> Callable[..., T]:
    """A positional constructor for the frozen, slotted dataclass ``cls``, twice as fast as its own.

    A frozen dataclass's ``__init__`` assigns each field through ``object.__setattr__``; for a
    segment that cost as much as the rest of decoding it.  This sets each slot through its
    descriptor instead, with the same result (fields with a default factory get a fresh default;
    every other field is an argument, in order).  Generated like a dataclass's own ``__init__``.
    """
    names, lines = [], []
    scope: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    for f in fields(cls):  # type: ignore[arg-type]
        scope[f"_set_{f.name}"] = getattr(cls, f.name).__set__
        if f.default_factory is not MISSING:
            scope[f"_make_{f.name}"] = f.default_factory
            lines.append(f"    _set_{f.name}(obj, _make_{f.name}())")
        else:
            names.append(f.name)
            lines.append(f"    _set_{f.name}(obj, {f.name})")
    source = f"def make({', '.join(names)}):\n    obj = _new(_cls)\n" + "\n".join(lines) + "\n    return obj\n"
    exec(source, scope)  # built from the class's own field names, as dataclasses does
    return scope["make"]  # type: ignore[no-any-return]


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

    @property
    def nd(self) -> Neighbour | None:
        """The neighbour discovery message the frame carries, if it is one (:mod:`tcpconform.ndp`)."""
        if self.icmp6 is None:
            return None
        from tcpconform.wire.ndp import parse

        i = self.icmp6
        return parse(i.message, i.src, i.dst, i.hlim)


_segment = slotted_constructor(Segment)
_frame = slotted_constructor(Frame)
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
        got = _ipv4(data)
    elif ethertype == ETH_P_IPV6:
        if len(data) >= 54 and data[20] == IPPROTO_ICMPV6:
            return _icmp6(data)
        got = _ipv6(data)
    elif ethertype == ETH_P_ARP:
        return _arp(data)
    else:
        return None
    if got is None:
        return None
    return _frame(data[6:12].hex(":"), data[0:6].hex(":"), got[0], None, got[1], None)


def tcp_segment(data: bytes) -> tuple[Segment, bool] | None:
    """The TCP segment in an Ethernet frame and whether its checksum is right, else ``None``.

    :func:`decode` without the :class:`Frame` around the segment: the receive path asks this first,
    as nearly every frame it gets is a segment, and hands only the rest (ARP, ICMPv6) to
    :func:`decode`.  The answers are :func:`decode`'s, from the same code.
    """
    if len(data) < 14:
        return None
    ethertype = data[12] << 8 | data[13]
    if ethertype == ETH_P_IP:
        return _ipv4(data)
    if ethertype == ETH_P_IPV6:
        return _ipv6(data)
    return None


def _macs(data: bytes) -> tuple[str, str]:
    return data[6:12].hex(":"), data[0:6].hex(":")


def _ipv4(data: bytes) -> tuple[Segment, bool] | None:
    end = len(data)
    if end < 34:
        return None
    vihl, _tos, total, _id, frag, _ttl, proto, _sum, src, dst = _IP4.unpack_from(data, 14)
    if proto != IPPROTO_TCP or frag & 0x1FFF:  # Scapy reads TCP only in a first (or whole) fragment
        return None
    if vihl == 0x45:  # no IP options: nearly every frame
        start, route_dst = 34, None
    else:
        header = (vihl & 0x0F) * 4
        start = 14 + header
        if header < 20 or start > end:
            return None
        route_dst = _source_route(data[34:start]) if header > 20 else None
    length = total - start + 14  # what the IP header says the TCP segment is; it may lie either way
    if length >= 0:
        tcp_end = summed_end = end if start + length > end else start + length
    else:  # Scapy then reads on to the frame's end, but sums up to |length| bytes short of it
        tcp_end, summed_end = end, max(start, end + length)
    pseudo = int.from_bytes(src + (route_dst or dst), "big") + (IPPROTO_TCP << 16 | (length if length > 0 else 0))
    src_text = _seen_addresses.get(src) or _address(src)
    dst_text = _seen_addresses.get(dst) or _address(dst)
    return _tcp(data, src_text, dst_text, start, tcp_end, summed_end, length, pseudo)


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


def _icmp6(data: bytes) -> Frame:
    _vtf, length, _nh, hlim, src, dst = _IP6.unpack_from(data, 14)
    src_mac, dst_mac = _macs(data)
    return Frame(src_mac, dst_mac, icmp6=Icmp6(inet_ntop(AF_INET6, src), inet_ntop(AF_INET6, dst), hlim,
                                               data[54:min(len(data), 54 + length)]))


def _ipv6(data: bytes) -> tuple[Segment, bool] | None:
    end = len(data)
    if end < 54:
        return None
    _vtf, length, nh, _hlim, src, dst = _IP6.unpack_from(data, 14)
    if nh != IPPROTO_TCP:
        return None
    tcp_end = min(end, 54 + length)
    pseudo = int.from_bytes(src + dst, "big") + tcp_end - 54 + IPPROTO_TCP
    return _tcp(data, inet_ntop(AF_INET6, src), inet_ntop(AF_INET6, dst), 54, tcp_end, tcp_end, length, pseudo)


def _tcp(data: bytes, src: str, dst: str, start: int, tcp_end: int, summed_end: int, length: int,
         pseudo: int) -> tuple[Segment, bool] | None:
    """The segment from ``start`` to ``tcp_end`` (where the IP header bounds it), offsets into the
    frame, and whether its checksum is right.

    ``length`` is what the IP header says the segment is; ``pseudo`` the pseudo-header as an
    integer, to which the bytes up to ``summed_end`` add for the checksum.
    """
    if tcp_end - start < 20:
        return None
    sport, dport, seq, ack, word, window, chksum, urgptr = _TCP.unpack_from(data, start)
    dataofs = word >> 12
    at = start + 20
    if dataofs > 5:
        opsz = (dataofs - 5) * 4
        try:
            options = _options(data[at:min(at + opsz, tcp_end)])
        except _Undecodable:
            return None
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
                   (word >> 9) & 7, chksum, dataofs)
    return seg, summed % 0xFFFF == 0


class _Undecodable(Exception):
    """A header Scapy cannot dissect: the frame is not a segment."""


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
    """TCP options as Scapy reads them (its ``TCPOptionsField.m2i``), value-less ones as ``None``;
    a list that does not parse (RFC 9293 3.1: an illegal length) stays bytes, as ``raw``."""
    if malformed_at(raw) is not None:
        return (("raw", raw),)
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
