"""IPv4 source routes (RFC 791 3.1, RFC 1122 3.3.5): the option's bytes, read and built.

A Loose (131) or Strict (137) Source and Record Route option is ``kind, length, pointer`` and
``(length - 3) / 4`` addresses.  Each hop the datagram passes replaces the address at the pointer
with its own and moves the pointer on; a pointer past the last address (``pointer > length``)
marks the route *completed*: the datagram is at its final destination, and the addresses are the
recorded route, the hops it came through, nearest the sender first.

The *return route* (RFC 1122 3.3.5) goes back the same way: it starts at the last recorded hop (the
datagram's next destination), lists the other recorded hops in reverse order and ends at the
original sender, with a fresh pointer (4).  Its final destination is the original sender, which the
TCP checksum's pseudo-header therefore names (RFC 9293 3.1).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

LSRR, SSRR = 131, 137
"""The two source route option kinds (RFC 791 3.1)."""
FRESH_POINTER = 4
"""The pointer of a route no hop has used yet: at its first address."""
MAX_HOPS = 9
"""Addresses one option holds at most: 3 + 4 * 9 = 39 of the header's 40 option bytes."""


@dataclass(frozen=True, slots=True)
class SourceRoute:
    """One source route option as read: its kind, pointer and addresses."""

    kind: int
    pointer: int
    addresses: tuple[str, ...]

    @property
    def completed(self) -> bool:
        """Every address used: the datagram is at its final destination (RFC 791 3.1)."""
        return self.pointer > 3 + 4 * len(self.addresses)

    def describe(self) -> str:
        name = "LSRR" if self.kind == LSRR else "SSRR"
        return f"{name} [{', '.join(self.addresses)}] pointer {self.pointer}"


def read_route(options: bytes) -> SourceRoute | None:
    """The first well-formed source route option in ``options`` (IPv4 options, RFC 791 3.1);
    ``None`` when there is none.  A route whose length does not hold whole addresses, or with a
    pointer below 4, is malformed and not one."""
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == 0:
            return None
        if kind == 1:
            i += 1
            continue
        size = options[i + 1] if i + 1 < len(options) else 0
        if size < 2 or i + size > len(options):
            return None
        if kind in (LSRR, SSRR) and size >= 7 and (size - 3) % 4 == 0 and options[i + 2] >= FRESH_POINTER:
            raw = options[i + 3:i + size]
            hops = tuple(str(ipaddress.IPv4Address(raw[j:j + 4])) for j in range(0, len(raw), 4))
            return SourceRoute(kind, options[i + 2], hops)
        i += size
    return None


def route_option(kind: int, pointer: int, addresses: tuple[str, ...]) -> bytes:
    """The option's wire bytes (unpadded)."""
    body = b"".join(ipaddress.IPv4Address(a).packed for a in addresses)
    return bytes([kind, 3 + len(body), pointer]) + body


def completed_route(recorded: tuple[str, ...], kind: int = LSRR) -> bytes:
    """A completed route over the ``recorded`` hops: the option as its final destination gets it."""
    return route_option(kind, 4 + 4 * len(recorded), recorded)


def return_route(route: SourceRoute, origin: str) -> tuple[str, bytes]:
    """The first hop and the option of the return route of a completed ``route`` that came from
    ``origin`` (RFC 1122 3.3.5), of the same kind: the datagram goes to the last recorded hop, the
    option lists the others in reverse order, then ``origin``."""
    hops = route.addresses
    return hops[-1], route_option(route.kind, FRESH_POINTER, (*hops[-2::-1], origin))

