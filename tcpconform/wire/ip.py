"""IPv4 and IPv6 headers, built and read with ``struct``: the layer between Ethernet and TCP.

Read as Scapy reads them: TCP only in a first (or whole) IPv4 fragment, the checksum's destination
the last hop of a source route, no IPv6 extension headers.  ICMPv6 is the caller's (:mod:`.frame`).
"""

from __future__ import annotations

import struct
from socket import AF_INET6, inet_ntoa, inet_ntop

from tcpconform.tcp.segment import Segment
from tcpconform.wire.checksum import internet_checksum
from tcpconform.wire.ethernet import HEADER_LEN
from tcpconform.wire.tcp import IPPROTO_TCP, parse_tcp

IPPROTO_ICMP = 1
IPPROTO_ICMPV6 = 58
IPV4 = struct.Struct("!BBHHHBBH4s4s")
IPV6 = struct.Struct("!IHBB16s16s")
_CHKSUM = struct.Struct("!H")
TTL = 64
"""Time to live of the tester's IPv4 packets: Scapy's default."""
HOP_LIMIT = 64
"""Hop limit of the tester's IPv6 packets: Scapy's default, and the common host default (RFC 8200
leaves it to the host; it only has to reach a neighbour)."""


# -- building ----------------------------------------------------------------------------------------
def ipv4_header(src: bytes, dst: bytes, payload_len: int, protocol: int = IPPROTO_TCP) -> bytearray:
    """The IPv4 header of a TCP segment (or another ``protocol``'s message): no options, TTL 64, DF,
    identification 0, checksum included."""
    ip = bytearray(IPV4.pack(0x45, 0, 20 + payload_len, 0, 0x4000, TTL, protocol, 0, src, dst))
    _CHKSUM.pack_into(ip, 10, internet_checksum(ip))
    return ip


def ipv6_header(src: bytes, dst: bytes, next_header: int, payload_len: int, hop_limit: int = HOP_LIMIT) -> bytes:
    """The fixed IPv6 header (RFC 8200 3): version 6, traffic class 0, flow label 0."""
    return IPV6.pack(6 << 28, payload_len, next_header, hop_limit, src, dst)


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


def ipv4_segment(data: bytes) -> tuple[Segment, bool] | None:
    """The TCP segment in the IPv4 packet of an Ethernet frame and whether its checksum is right."""
    end = len(data)
    if end < 34:
        return None
    vihl, _tos, total, _id, frag, _ttl, proto, _sum, src, dst = IPV4.unpack_from(data, HEADER_LEN)
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
    return parse_tcp(data, src_text, dst_text, start, tcp_end, summed_end, length, pseudo)


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
    _vtf, length, nh, _hlim, src, dst = IPV6.unpack_from(data, HEADER_LEN)
    if nh != IPPROTO_TCP:
        return None
    tcp_end = min(end, 54 + length)
    pseudo = int.from_bytes(src + dst, "big") + tcp_end - 54 + IPPROTO_TCP
    return parse_tcp(data, inet_ntop(AF_INET6, src), inet_ntop(AF_INET6, dst), 54, tcp_end, tcp_end, length,
                     pseudo)
