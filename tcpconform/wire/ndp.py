"""IPv6 Neighbor Discovery (RFC 4861): the two messages a tester needs, built and read with ``struct``.

IPv6 has no ARP.  A node finds a neighbour's link-layer address by sending a Neighbor Solicitation
to the neighbour's *solicited-node multicast* address, and answers solicitations for its own
addresses with a Neighbor Advertisement.  The tester owns addresses no kernel owns (its kernel must
not answer the tester's segments with RSTs), so it speaks these two messages itself, as it speaks
ARP over IPv4.  Router discovery, redirects, DAD and MLD are not needed on a two-node link and are
not spoken.

Everything here is plain bytes in, bytes out: no Scapy, no socket (see
:class:`tcpconform.links.rawsock.RawEndpoint` for where it is used).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from tcpconform.wire.checksum import internet_checksum, packed_address, pseudo_header
from tcpconform.wire.ethernet import ETH_P_IPV6, mac_text
from tcpconform.wire.ip import IPPROTO_ICMPV6, ipv6_header

NS, NA = 135, 136
ND_HOP_LIMIT = 255
"""RFC 4861 7.1: ND messages are sent with hop limit 255 and a receiver drops any other, which proves
they were not forwarded by a router."""
OPT_SLLA, OPT_TLLA = 1, 2
NA_ROUTER, NA_SOLICITED, NA_OVERRIDE = 0x80, 0x40, 0x20
ALL_NODES = "ff02::1"
UNSPECIFIED = "::"
_ETHERTYPE = ETH_P_IPV6.to_bytes(2, "big")


@dataclass(frozen=True, slots=True)
class Neighbour:
    """One Neighbor Solicitation or Advertisement, as read off the wire."""

    kind: str
    """``solicit`` or ``advert``."""
    src: str
    """The IPv6 source (``::`` for a solicitation doing duplicate address detection)."""
    dst: str
    target: str
    """The address asked about (solicitation) or answered for (advertisement)."""
    lladdr: str | None
    """The link-layer address option: the sender's (solicitation) or the target's (advertisement)."""
    flags: int = 0
    """The advertisement's R/S/O bits (``NA_ROUTER | NA_SOLICITED | NA_OVERRIDE``)."""


def solicited_node(ip: str) -> str:
    """The solicited-node multicast address of ``ip`` (RFC 4291 2.7.1): ``ff02::1:ff`` + its low 24 bits."""
    low = ipaddress.IPv6Address(ip).packed[13:]
    return str(ipaddress.IPv6Address(bytes.fromhex("ff0200000000000000000001ff") + low))


def multicast_mac(group: str) -> bytes:
    """The Ethernet address an IPv6 multicast group maps to (RFC 2464 7): ``33:33`` + its low 32 bits."""
    return b"\x33\x33" + ipaddress.IPv6Address(group).packed[12:]


def icmpv6_checksum(src: str, dst: str, message: bytes) -> int:
    """The ICMPv6 checksum (RFC 4443 2.3), over the IPv6 pseudo-header and the message."""
    pseudo = pseudo_header(packed_address(src), packed_address(dst), IPPROTO_ICMPV6, len(message))
    return internet_checksum(pseudo + message)


def _frame(src_mac: bytes, dst_mac: bytes, src: str, dst: str, message: bytes) -> bytes:
    chk = icmpv6_checksum(src, dst, message)
    message = message[:2] + struct.pack("!H", chk) + message[4:]
    header = ipv6_header(packed_address(src), packed_address(dst), IPPROTO_ICMPV6, len(message), ND_HOP_LIMIT)
    return dst_mac + src_mac + _ETHERTYPE + header + message


def _lladdr_option(kind: int, mac: bytes) -> bytes:
    return struct.pack("!BB", kind, 1) + mac  # length in units of 8 octets


def encode_solicitation(src_mac: bytes, src_ip: str, target: str) -> bytes:
    """A Neighbor Solicitation for ``target``, multicast to its solicited-node group, carrying our
    link-layer address so the target can answer without soliciting back (RFC 4861 4.3, 7.2.4)."""
    group = solicited_node(target)
    message = struct.pack("!BBHI", NS, 0, 0, 0) + ipaddress.IPv6Address(target).packed
    return _frame(src_mac, multicast_mac(group), src_ip, group, message + _lladdr_option(OPT_SLLA, src_mac))


def encode_advertisement(src_mac: bytes, src_ip: str, dst_mac: bytes, dst_ip: str, *,
                         solicited: bool = True, override: bool = True) -> bytes:
    """A Neighbor Advertisement for ``src_ip`` with our link-layer address (RFC 4861 4.4, 7.2.4).

    An answer to a solicitation is unicast to its source with the Solicited flag; if the solicitation
    came from the unspecified address (duplicate address detection) it goes to all-nodes without it.
    """
    if dst_ip == UNSPECIFIED:
        dst_ip, dst_mac, solicited = ALL_NODES, multicast_mac(ALL_NODES), False
    flags = (NA_SOLICITED if solicited else 0) | (NA_OVERRIDE if override else 0)
    message = struct.pack("!BBHB3x", NA, 0, 0, flags) + ipaddress.IPv6Address(src_ip).packed
    return _frame(src_mac, dst_mac, src_ip, dst_ip, message + _lladdr_option(OPT_TLLA, src_mac))


def parse(message: bytes, src: str, dst: str, hop_limit: int) -> Neighbour | None:
    """The solicitation or advertisement in an ICMPv6 ``message``; ``None`` for any other ICMPv6
    message and for one RFC 4861 (7.1.1, 7.1.2) says to drop silently: hop limit not 255, code not 0,
    bad checksum, too short, a multicast target, or an option of length zero."""
    if len(message) < 24 or message[0] not in (NS, NA) or message[1] != 0 or hop_limit != ND_HOP_LIMIT:
        return None
    if icmpv6_checksum(src, dst, message) != 0:
        return None
    target = ipaddress.IPv6Address(message[8:24])
    if target.is_multicast:
        return None
    lladdr = None
    want = OPT_SLLA if message[0] == NS else OPT_TLLA
    offset = 24
    while offset + 2 <= len(message):
        kind, units = message[offset], message[offset + 1]
        if units == 0:
            return None
        if kind == want and units == 1 and offset + 8 <= len(message):
            lladdr = mac_text(message[offset + 2: offset + 8])
        offset += 8 * units
    if message[0] == NS:
        return Neighbour("solicit", src, dst, str(target), lladdr)
    return Neighbour("advert", src, dst, str(target), lladdr, message[4] & 0xE0)
