"""ICMP (RFC 792) and ICMPv6 (RFC 4443) error messages quoting a TCP segment, built and read with ``struct``.

An error quotes the packet it is about: its IP header and as much of the rest as fits, as a router
quotes it (RFC 1812 4.3.2.3: an ICMPv4 error of at most 576 bytes; RFC 4443 2.4(c): an ICMPv6 one no
larger than the minimum MTU, 1280).  That is always the whole TCP header and more than the 8 bytes of
it RFC 792 asks for (the ports and the sequence number RFC 5927 4.1 checks).  The quoted IP header
is the one the segment went out with, as far as the tester can tell: its total length says the whole
datagram, however little of it follows.

The fifth to eighth bytes of the ICMP header: the next-hop MTU of a frag-needed in its low 16 bits
(RFC 1191 4), the MTU of a packet-too-big in all 32 (RFC 4443 3.2), zero otherwise (a parameter
problem's pointer 0: the error is about the quoted header as a whole).
"""

from __future__ import annotations

import struct
from socket import AF_INET6, inet_ntoa, inet_ntop

from tcpconform.tcp.icmp import KINDS, IcmpError
from tcpconform.tcp.segment import Flags, Segment
from tcpconform.wire.checksum import internet_checksum, packed_address, pseudo_header
from tcpconform.wire.ethernet import ETH_P_IP, ETH_P_IPV6, TARGET_MAC, TESTER_MAC, mac_bytes
from tcpconform.wire.ip import IPPROTO_ICMP, IPPROTO_ICMPV6, IPV4, IPV6, ipv4_header, ipv6_header
from tcpconform.wire.tcp import HEADER, IPPROTO_TCP, tcp_bytes

__all__ = ["QUOTE_LIMIT", "encode_icmp", "parse_icmp", "quoted_packet"]

QUOTE_LIMIT = {False: 576 - 20 - 8, True: 1280 - 40 - 8}
"""The most bytes of the offending packet an error quotes, per family (IPv6: ``True``)."""
_ICMP = struct.Struct("!BBHI")
_BY_PAIR = {(False, k.v4): name for name, k in KINDS.items() if k.v4} | {(True, k.v6): name for name, k in KINDS.items() if k.v6}
_BY_PAIR[(False, (3, 4))], _BY_PAIR[(True, (2, 0))] = "frag-needed", "packet-too-big"
"""(ipv6, (type, code)) -> the kind's name; a path MTU message reads back under its family's name."""


def quoted_packet(seg: Segment) -> bytes:
    """The start of the IP datagram carrying ``seg`` that an error about it quotes."""
    src, dst = packed_address(seg.src), packed_address(seg.dst)
    tcp = bytes(tcp_bytes(seg, src, dst))
    if len(src) == 16:
        packet = ipv6_header(src, dst, IPPROTO_TCP, len(tcp)) + tcp
    else:
        packet = bytes(ipv4_header(src, dst, len(tcp))) + tcp
    return packet[:QUOTE_LIMIT[len(src) == 16]]


def encode_icmp(msg: IcmpError, src_mac: str = TESTER_MAC, dst_mac: str = TARGET_MAC) -> bytes:
    """The Ethernet frame carrying ``msg``, checksums correct (ICMPv6's over its pseudo-header)."""
    type_, code = msg.type_code
    rest = msg.mtu & (0xFFFFFFFF if msg.ipv6 else 0xFFFF) if msg.effect == "pmtu" else 0
    body = bytearray(_ICMP.pack(type_, code, 0, rest)) + quoted_packet(msg.quoted)
    src, dst = packed_address(msg.src), packed_address(msg.dst)
    macs = mac_bytes(dst_mac) + mac_bytes(src_mac)
    if msg.ipv6:
        struct.pack_into("!H", body, 2, internet_checksum(pseudo_header(src, dst, IPPROTO_ICMPV6, len(body)) + body))
        return b"".join((macs, ETH_P_IPV6.to_bytes(2, "big"), ipv6_header(src, dst, IPPROTO_ICMPV6, len(body)), body))
    struct.pack_into("!H", body, 2, internet_checksum(body))
    return b"".join((macs, ETH_P_IP.to_bytes(2, "big"), ipv4_header(src, dst, len(body), IPPROTO_ICMP), body))


def parse_icmp(frame: bytes) -> IcmpError | None:
    """The ICMP(v6) error about a TCP segment in an Ethernet frame, or ``None`` (another message, a
    wrong checksum, a quote too short for the TCP header).  The quoted segment carries what was
    quoted of its data."""
    if len(frame) < 14:
        return None
    ethertype = frame[12] << 8 | frame[13]
    if ethertype == ETH_P_IP and len(frame) >= 34:
        vihl, _tos, total, _id, _frag, _ttl, proto, _sum, src, dst = IPV4.unpack_from(frame, 14)
        start = 14 + (vihl & 0x0F) * 4
        body = frame[start:14 + total]
        if proto != IPPROTO_ICMP or internet_checksum(body) != 0:
            return None
        ipv6, outer = False, (inet_ntoa(src), inet_ntoa(dst))
    elif ethertype == ETH_P_IPV6 and len(frame) >= 54 and frame[20] == IPPROTO_ICMPV6:
        _vtf, length, _nh, _hlim, src, dst = IPV6.unpack_from(frame, 14)
        body = frame[54:54 + length]
        if internet_checksum(pseudo_header(src, dst, IPPROTO_ICMPV6, len(body)) + body) != 0:
            return None
        ipv6, outer = True, (inet_ntop(AF_INET6, src), inet_ntop(AF_INET6, dst))
    else:
        return None
    if len(body) < 8:
        return None
    type_, code, _chk, rest = _ICMP.unpack_from(body)
    name = _BY_PAIR.get((ipv6, (type_, code)))
    quoted = _quoted_segment(body[8:], ipv6)
    if name is None or quoted is None:
        return None
    mtu = (rest if ipv6 else rest & 0xFFFF) if KINDS[name].effect == "pmtu" else 0
    return IcmpError(outer[0], outer[1], name, quoted, mtu)


def _quoted_segment(packet: bytes, ipv6: bool) -> Segment | None:
    if ipv6:
        if len(packet) < 60 or packet[6] != IPPROTO_TCP:
            return None
        _vtf, _length, _nh, _hlim, src, dst = IPV6.unpack_from(packet)
        addresses, start = (inet_ntop(AF_INET6, src), inet_ntop(AF_INET6, dst)), 40
    else:
        if len(packet) < 20:
            return None
        vihl, _tos, _total, _id, _frag, _ttl, proto, _sum, src, dst = IPV4.unpack_from(packet)
        start = (vihl & 0x0F) * 4
        if proto != IPPROTO_TCP or len(packet) < start + 20:
            return None
        addresses = (inet_ntoa(src), inet_ntoa(dst))
    sport, dport, seq, ack, word, window, _chksum, urgptr = HEADER.unpack_from(packet, start)
    data_at = start + (word >> 12) * 4
    return Segment(addresses[0], addresses[1], sport, dport, seq=seq, ack=ack, flags=Flags(word & 0x1FF),
                   window=window, urgptr=urgptr, payload=bytes(packet[data_at:]))
