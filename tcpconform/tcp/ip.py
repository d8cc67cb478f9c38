"""IP-level fields a segment may carry besides its addresses: TTL, TOS, IPv4 options, IPv6
Destination Options; and the address classes RFC 1122 3.2.1.3 and RFC 9293 3.9.2.3 forbid.

A segment without an :class:`IpHeader` is sent with the tester's defaults (TTL / hop limit 64,
TOS 0, no options) and was received without options; the header travels with the segment only when
a case sets it or the wire carried options, so the common segment pays nothing for it.  Options are
kept as their wire bytes (the TLVs, without padding for IPv4 and without the extension header's
first two bytes for IPv6), so what is sent and what is read compare byte for byte.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPV4_OPTIONS_MAX = 40
"""Room for options in an IPv4 header: 15 words less the 5 of the fixed header."""
DEST_OPTIONS_MAX = 2046
"""Room for options in one Destination Options header: 256 eight-byte units less its two bytes."""

PAD1, PADN = 0, 1
"""RFC 8200 4.2's two padding options."""


@dataclass(frozen=True, slots=True)
class IpHeader:
    """What a segment's IP header holds besides its addresses; ``None`` fields are the defaults."""

    ttl: int | None = None
    """IPv4 TTL or IPv6 hop limit (``None``: 64)."""
    tos: int | None = None
    """IPv4 TOS byte or IPv6 Traffic Class (``None``: 0)."""
    options: bytes = b""
    """IPv4 options as on the wire, before the padding to a 4-byte boundary."""
    dest_options: bytes | None = None
    """IPv6: the options of a Destination Options header before the TCP header (``None``: no such
    header), before the padding to an 8-byte boundary."""
    length_delta: int = 0
    """How many bytes the length field (IPv4 Total Length, IPv6 Payload Length) is off the true
    length of the datagram sent (0: true; a segment received always reads 0).  A receiver takes the
    datagram's extent from that field (RFC 791 3.1, RFC 8200 3), so one that lies makes the TCP
    segment it carries either run short of what was sent or claim bytes that never came: either
    way the TCP checksum, which covers the segment's length, no longer holds (RFC 9293 3.1)."""

    @property
    def has_options(self) -> bool:
        return bool(self.options) or self.dest_options is not None


def ipv4_option_kinds(options: bytes) -> list[int]:
    """The kinds of the IPv4 options in ``options`` (RFC 791 3.1), in order, up to an end-of-list;
    a length that runs past the bytes ends the list (its kind is still named)."""
    kinds, i = [], 0
    while i < len(options):
        kind = options[i]
        if kind == 0:
            break
        kinds.append(kind)
        if kind == 1:
            i += 1
            continue
        size = options[i + 1] if i + 1 < len(options) else 0
        if size < 2:
            break
        i += size
    return kinds


def dest_option_types(options: bytes) -> list[int]:
    """The types of the IPv6 options in ``options`` (RFC 8200 4.2), padding left out."""
    types, i = [], 0
    while i < len(options):
        kind = options[i]
        if kind == PAD1:
            i += 1
            continue
        if kind != PADN:
            types.append(kind)
        i += 2 + (options[i + 1] if i + 1 < len(options) else 0)
    return types


def pad_dest_options(options: bytes) -> bytes:
    """``options`` padded (RFC 8200 4.2: Pad1 or PadN) so that the header, with its two leading
    bytes, is a whole number of 8-byte units."""
    need = -(len(options) + 2) % 8
    if need == 1:
        return options + bytes([PAD1])
    if need:
        return options + bytes([PADN, need - 2]) + bytes(need - 2)
    return options


ADDRESS_NAMES = ("target", "loopback", "unspecified", "broadcast", "multicast", "subnet-broadcast")
"""Names a case may give an address by, resolved per family by :func:`named_address`."""

_NAMED = {
    "loopback": ("127.0.0.1", "::1"),
    "unspecified": ("0.0.0.0", "::"),
    "broadcast": ("255.255.255.255", "ff02::1"),  # IPv6 has no broadcast: all-nodes multicast does its work
    "multicast": ("224.0.0.1", "ff02::1"),
}


def subnet_broadcast(address: str) -> str | None:
    """The directed broadcast of ``address``'s /24 (its last octet 255): the subnet broadcast when
    the prefix is /24, as the lab's is; the tester knows no other prefix.  ``None`` over IPv6,
    which has no broadcast."""
    ip = ipaddress.ip_address(address)
    return None if ip.version == 6 else str(ipaddress.IPv4Address(int(ip) | 0xFF))


def named_address(name: str, target: str, ipv6: bool) -> str:
    """The address ``name`` stands for in a run over ``target`` (``target``: its own address); an
    address written out is returned canonical.  ``ValueError`` for anything else."""
    if name == "target":
        return target
    if name == "subnet-broadcast":
        return subnet_broadcast(target) or _NAMED["broadcast"][1]
    pair = _NAMED.get(name)
    if pair is not None:
        return pair[1] if ipv6 else pair[0]
    return str(ipaddress.ip_address(name))


def invalid_source(address: str, own: str) -> str | None:
    """Why ``address`` cannot be a datagram's source (RFC 1122 3.2.1.3; RFC 4291 2.5.2, 2.5.3, 2.7),
    ``None`` if it can: this host's zero network or the unspecified address, loopback, multicast,
    IPv4's limited broadcast, its subnet's (:func:`subnet_broadcast`) and reserved class E, or the
    receiver's own address (a LAND attack)."""
    ip = ipaddress.ip_address(address)
    if address == own:
        return "the target's own address"
    if ip.is_unspecified or (ip.version == 4 and address.startswith("0.")):
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.version == 4 and int(ip) >= 0xF0000000:
        return "the broadcast address" if int(ip) == 0xFFFFFFFF else "a reserved (class E) address"
    if address == subnet_broadcast(own):
        return "the subnet's broadcast address"
    return None


def group_destination(address: str, own: str) -> bool:
    """Whether ``address`` is a broadcast or multicast address (RFC 9293 3.9.2.3, MUST-57), for a
    host at ``own``: its subnet's broadcast (:func:`subnet_broadcast`) included."""
    ip = ipaddress.ip_address(address)
    return ip.is_multicast or (ip.version == 4 and int(ip) == 0xFFFFFFFF) or address == subnet_broadcast(own)
