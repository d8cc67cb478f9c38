"""IPv4 and IPv6 headers, built and read with ``struct``: the layer between Ethernet and TCP.

Read as Scapy reads them: TCP only in a first (or whole) IPv4 fragment, the checksum's destination
the last hop of a source route; of IPv6's extension headers only Hop-by-Hop and Destination Options
are stepped over (a routing header would change the checksum's destination, a fragment header the
segment's extent).  ICMPv6 is the caller's (:mod:`.frame`).  IP options read are kept on the segment
(:class:`~tcpconform.tcp.ip.IpHeader`), with the TTL and TOS of their header, so that a receiver
can judge them; a header without options adds nothing to the segment.
"""

from __future__ import annotations

import struct
from dataclasses import replace
from socket import AF_INET6, inet_ntoa, inet_ntop

from tcpconform.tcp.ip import IpHeader, pad_dest_options
from tcpconform.tcp.segment import Segment
from tcpconform.wire.checksum import internet_checksum
from tcpconform.wire.ethernet import HEADER_LEN
from tcpconform.wire.tcp import IPPROTO_TCP, parse_tcp

IPPROTO_ICMP = 1
IPPROTO_ICMPV6 = 58
IPPROTO_HOPOPTS = 0
IPPROTO_DSTOPTS = 60
IPV4 = struct.Struct("!BBHHHBBH4s4s")
IPV6 = struct.Struct("!IHBB16s16s")
_CHKSUM = struct.Struct("!H")
TTL = 64
"""Time to live of the tester's IPv4 packets: Scapy's default."""
HOP_LIMIT = 64
"""Hop limit of the tester's IPv6 packets: Scapy's default, and the common host default (RFC 8200
leaves it to the host; it only has to reach a neighbour)."""


# -- building ----------------------------------------------------------------------------------------
def ipv4_header(src: bytes, dst: bytes, payload_len: int, protocol: int = IPPROTO_TCP,
                fields: IpHeader | None = None) -> bytearray:
    """The IPv4 header of a TCP segment (or another ``protocol``'s message): DF, identification 0,
    checksum included; TTL 64, TOS 0 and no options unless ``fields`` say otherwise (options padded
    with end-of-list bytes to a 4-byte boundary, the header length counting them)."""
    options = b"" if fields is None else fields.options + bytes(-len(fields.options) % 4)
    ttl = TTL if fields is None or fields.ttl is None else fields.ttl
    tos = 0 if fields is None or fields.tos is None else fields.tos
    size = 20 + len(options)
    total = _lying(size + payload_len, fields)
    ip = bytearray(IPV4.pack(0x40 | size // 4, tos, total, 0, 0x4000, ttl, protocol, 0, src, dst))
    ip += options
    _CHKSUM.pack_into(ip, 10, internet_checksum(ip))
    return ip


def ipv6_header(src: bytes, dst: bytes, next_header: int, payload_len: int, hop_limit: int = HOP_LIMIT,
                fields: IpHeader | None = None) -> bytes:
    """The IPv6 header (RFC 8200 3), flow label 0, and with ``fields`` their hop limit, traffic
    class and Destination Options header (RFC 8200 4.6, padded to 8 bytes) before ``next_header``."""
    if fields is None:
        return IPV6.pack(6 << 28, payload_len, next_header, hop_limit, src, dst)
    hlim = hop_limit if fields.ttl is None else fields.ttl
    first = 6 << 28 | (fields.tos or 0) << 20
    if fields.dest_options is None:
        return IPV6.pack(first, _lying(payload_len, fields), next_header, hlim, src, dst)
    options = pad_dest_options(fields.dest_options)
    ext = bytes([next_header, (len(options) + 2) // 8 - 1]) + options
    return IPV6.pack(first, _lying(payload_len + len(ext), fields), IPPROTO_DSTOPTS, hlim, src, dst) + ext


def _lying(length: int, fields: IpHeader | None) -> int:
    """The length field for a datagram of ``length``: true, or off by ``fields.length_delta`` (kept
    to the field's 16 bits)."""
    return length if fields is None else min(max(length + fields.length_delta, 0), 0xFFFF)


# -- reading -----------------------------------------------------------------------------------------
_seen_addresses: dict[bytes, str] = {}


def _address(raw: bytes) -> str:
    """An IPv4 address as text; a run sees the same two over and over."""
    text = _seen_addresses.get(raw)
    if text is None:
        if len(_seen_addresses) >= 4096:
            _seen_addresses.clear()
        text = _seen_addresses[raw] = inet_ntoa(raw)
    return text


ECN_MASK = 0b11
"""The ECN field of the TOS byte / Traffic Class: a segment whose ECN bits are set keeps its IP header's
fields (:attr:`Segment.ip`) for TCP to read, as one with IP options does."""


def claims_more(frame: bytes) -> bool:
    """Whether the IPv4 or IPv6 header of an Ethernet frame claims more bytes than the frame holds:
    a datagram that is not whole (RFC 791 3.1's Total Length, RFC 8200 3's Payload Length), which a
    receiver discards whatever its TCP checksum says (a frame may hold fewer bytes past the field
    than it claims only as link padding, never more)."""
    if len(frame) < 34:
        return False
    kind = frame[12:14]
    if kind == b"\x08\x00":
        return HEADER_LEN + int.from_bytes(frame[16:18], "big") > len(frame)
    return kind == b"\x86\xdd" and len(frame) >= 54 and 54 + int.from_bytes(frame[18:20], "big") > len(frame)


def ipv4_segment(data: bytes) -> tuple[Segment, bool] | None:
    """The TCP segment in the IPv4 packet of an Ethernet frame and whether its checksum is right."""
    end = len(data)
    if end < 34:
        return None
    vihl, tos, total, _id, frag, ttl, proto, _sum, src, dst = IPV4.unpack_from(data, HEADER_LEN)
    if proto != IPPROTO_TCP or frag & 0x1FFF:  # Scapy reads TCP only in a first (or whole) fragment
        return None
    if vihl == 0x45:  # no IP options: nearly every frame
        start, route_dst = 34, None
    else:
        header = (vihl & 0x0F) * 4
        start = HEADER_LEN + header
        if header < 20 or start > end:
            return None
        route_dst = _source_route(data[34:start]) if header > 20 else None
    length = total - start + HEADER_LEN  # what the IP header says the TCP segment is; it may lie either way
    if length >= 0:
        tcp_end = summed_end = end if start + length > end else start + length
    else:  # Scapy then reads on to the frame's end, but sums up to |length| bytes short of it
        tcp_end, summed_end = end, max(start, end + length)
    pseudo = int.from_bytes(src + (route_dst or dst), "big") + (IPPROTO_TCP << 16 | (length if length > 0 else 0))
    src_text = _seen_addresses.get(src) or _address(src)
    dst_text = _seen_addresses.get(dst) or _address(dst)
    got = parse_tcp(data, src_text, dst_text, start, tcp_end, summed_end, length, pseudo)
    if got is None or (vihl == 0x45 and not tos & ECN_MASK):  # the ECN bits are TCP's to read (RFC 3168)
        return got
    return replace(got[0], ip=IpHeader(ttl, tos, _unpadded(data[34:start]))), got[1]


def _unpadded(options: bytes) -> bytes:
    """IPv4 options without the end-of-list padding after the last one."""
    i = 0
    while i < len(options) and options[i] != 0:
        i += 1 if options[i] == 1 else max(2, options[i + 1] if i + 1 < len(options) else 2)
    return options[:i]


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


def ipv6_segment(data: bytes) -> tuple[Segment, bool] | None:
    """The TCP segment in the IPv6 packet of an Ethernet frame and whether its checksum is right."""
    end = len(data)
    if end < 54:
        return None
    vtf, length, nh, hlim, src, dst = IPV6.unpack_from(data, HEADER_LEN)
    if nh == IPPROTO_TCP:
        tcp_end = min(end, 54 + length)
        pseudo = int.from_bytes(src + dst, "big") + tcp_end - 54 + IPPROTO_TCP
        got = parse_tcp(data, inet_ntop(AF_INET6, src), inet_ntop(AF_INET6, dst), 54, tcp_end, tcp_end, length, pseudo)
        if got is None or not vtf >> 20 & ECN_MASK:
            return got
        return replace(got[0], ip=IpHeader(hlim, vtf >> 20 & 0xFF)), got[1]
    return _after_extensions(data, vtf, length, nh, hlim, src, dst)


def _after_extensions(data: bytes, vtf: int, length: int, nh: int, hlim: int, src: bytes,
                      dst: bytes) -> tuple[Segment, bool] | None:
    """The segment after Hop-by-Hop and Destination Options headers, the last Destination Options
    header's options kept on it; ``None`` behind any other header."""
    start, payload_end, dest = 54, min(len(data), 54 + length), None
    while nh in (IPPROTO_HOPOPTS, IPPROTO_DSTOPTS):
        if start + 8 > payload_end:
            return None
        size = (data[start + 1] + 1) * 8
        if nh == IPPROTO_DSTOPTS:
            dest = _unpadded6(data[start + 2:start + size])
        nh, start = data[start], start + size
    if nh != IPPROTO_TCP or start > payload_end:
        return None
    seg_len = payload_end - start
    pseudo = int.from_bytes(src + dst, "big") + seg_len + IPPROTO_TCP
    got = parse_tcp(data, inet_ntop(AF_INET6, src), inet_ntop(AF_INET6, dst), start, payload_end, payload_end,
                    54 + length - start, pseudo)
    if got is None:
        return None
    return replace(got[0], ip=IpHeader(hlim, vtf >> 20 & 0xFF, b"", dest)), got[1]


def _unpadded6(options: bytes) -> bytes:
    """IPv6 options without the Pad1 / PadN padding at their end."""
    i, last = 0, 0
    while i < len(options):
        kind = options[i]
        i += 1 if kind == 0 else 2 + (options[i + 1] if i + 1 < len(options) else 0)
        if kind > 1:
            last = i
    return options[:last]


def header_fields(frame: bytes) -> IpHeader | None:
    """The TTL / hop limit and TOS / Traffic Class of the IP packet in an Ethernet frame; ``None``
    for a frame that holds neither IPv4 nor IPv6."""
    if len(frame) < 34:
        return None
    ethertype = frame[12] << 8 | frame[13]
    if ethertype == 0x0800:
        return IpHeader(frame[22], frame[15])
    if ethertype == 0x86DD and len(frame) >= 54:
        return IpHeader(frame[21], (frame[14] & 0x0F) << 4 | frame[15] >> 4)
    return None
