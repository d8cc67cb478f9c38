"""Segments to Ethernet frames and back: the one place a :class:`~tcpconform.tcp.segment.Segment` meets bytes.

Both directions are plain ``struct``, so a segment sent or received never pays for Scapy, and this
is the tester's per-segment cost on the wire.  Only the frame shapes the link's kernel filter admits
are read: Ethernet II with IPv4 or IPv6 (Hop-by-Hop and Destination Options headers at most) carrying TCP, ARP, and ICMPv6, which
is handed over undissected.  A TCP header inside a tunnel, a VLAN, a fragment or anything else is
``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from socket import AF_INET6, inet_ntop

from tcpconform.tcp.segment import Segment
from tcpconform.wire.arp import Arp, parse_arp
from tcpconform.wire.checksum import packed_address
from tcpconform.wire.ethernet import ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, TARGET_MAC, TESTER_MAC, addresses, mac_bytes
from tcpconform.wire.ip import IPPROTO_ICMPV6, IPV6, ipv4_header, ipv4_segment, ipv6_header, ipv6_segment
from tcpconform.wire.ndp import Neighbour, parse
from tcpconform.wire.slotted import slotted_constructor
from tcpconform.wire.tcp import IPPROTO_TCP, tcp_bytes

_IPV4_TYPE = ETH_P_IP.to_bytes(2, "big")
_IPV6_TYPE = ETH_P_IPV6.to_bytes(2, "big")


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
    """What :func:`decode` finds in an Ethernet frame: at most one of a segment, an ARP or an ICMPv6 message."""

    src_mac: str
    dst_mac: str
    segment: Segment | None = None
    arp: Arp | None = None
    checksum_ok: bool = True
    icmp6: Icmp6 | None = None

    @property
    def nd(self) -> Neighbour | None:
        """The neighbour discovery message the frame carries, if it is one (:mod:`tcpconform.wire.ndp`)."""
        if self.icmp6 is None:
            return None
        i = self.icmp6
        return parse(i.message, i.src, i.dst, i.hlim)


_frame = slotted_constructor(Frame)


def encode(seg: Segment, src_mac: str = TESTER_MAC, dst_mac: str = TARGET_MAC) -> bytes:
    """The Ethernet frame carrying ``seg`` (IPv4, TTL 64, DF; or IPv6 when its addresses are; the
    TTL, TOS and options its ``ip`` sets), with correct checksums unless the segment fixes its own
    (``chksum``) or asks for a bad one."""
    src, dst = packed_address(seg.src), packed_address(seg.dst)
    tcp = tcp_bytes(seg, src, dst)
    macs = mac_bytes(dst_mac) + mac_bytes(src_mac)
    if len(src) == 16:
        return b"".join((macs, _IPV6_TYPE, ipv6_header(src, dst, IPPROTO_TCP, len(tcp), fields=seg.ip), tcp))
    return b"".join((macs, _IPV4_TYPE, ipv4_header(src, dst, len(tcp), fields=seg.ip), tcp))


def decode(data: bytes) -> Frame | None:
    """The TCP segment, ARP message or ICMPv6 message in an Ethernet frame; ``None`` for anything else."""
    if len(data) < 14:
        return None
    ethertype = data[12] << 8 | data[13]
    if ethertype == ETH_P_IP:
        got = ipv4_segment(data)
    elif ethertype == ETH_P_IPV6:
        if len(data) >= 54 and data[20] == IPPROTO_ICMPV6:
            return _icmp6(data)
        got = ipv6_segment(data)
    elif ethertype == ETH_P_ARP:
        arp = parse_arp(data)
        return None if arp is None else Frame(*addresses(data), arp=arp)
    else:
        return None
    if got is None:
        return None
    # addresses(data), inline: a function call here costs a tenth of the segment's decoding
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
        return ipv4_segment(data)
    if ethertype == ETH_P_IPV6:
        return ipv6_segment(data)
    return None


def _icmp6(data: bytes) -> Frame:
    _vtf, length, _nh, hlim, src, dst = IPV6.unpack_from(data, 14)
    return Frame(*addresses(data), icmp6=Icmp6(inet_ntop(AF_INET6, src), inet_ntop(AF_INET6, dst), hlim,
                                               data[54:min(len(data), 54 + length)]))
