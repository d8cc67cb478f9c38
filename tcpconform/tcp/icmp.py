"""ICMP and ICMPv6 error messages about a TCP segment, as plain data.

An :class:`IcmpError` is what the tester sends a target (as a router on the path would) and what the
reference responder handles: which error, the MTU a packet-too-big announces, and the segment it
quotes.  Kinds are named once for both families (:data:`KINDS`); each name maps to ICMPv4's type and
code and to ICMPv6's, or to nothing where that family has no such message (source quench is ICMPv4's
only, RFC 6633 deprecating it; ICMPv6 never had it).  The bytes are :mod:`tcpconform.wire.icmp`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from tcpconform.tcp.segment import Segment, is_ipv6


class IcmpKind(NamedTuple):
    """One error kind: its ICMPv4 and ICMPv6 (type, code), ``None`` where the family lacks it."""

    v4: tuple[int, int] | None
    v6: tuple[int, int] | None
    effect: str
    """What RFC 9293 3.9.2.2 / RFC 1122 4.2.3.9 make of it: ``pmtu`` (RFC 1191, RFC 8201), ``soft``
    (never aborts a connection, MUST-56), ``hard`` (may abort, SHLD-26), ``quench`` (ignored, MUST-55)."""
    text: str


KINDS: dict[str, IcmpKind] = {
    "frag-needed": IcmpKind((3, 4), (2, 0), "pmtu", "fragmentation needed and DF set / packet too big"),
    "packet-too-big": IcmpKind((3, 4), (2, 0), "pmtu", "packet too big / fragmentation needed and DF set"),
    "net-unreachable": IcmpKind((3, 0), (1, 0), "soft", "destination (network) unreachable: no route"),
    "host-unreachable": IcmpKind((3, 1), (1, 3), "soft", "host unreachable / address unreachable"),
    # RFC 2463's ICMPv6 code 2 was "not a neighbour", its strict source route failing; RFC 4443 renamed it.
    "source-route-failed": IcmpKind((3, 5), (1, 2), "soft", "source route failed / beyond scope of source address"),
    "time-exceeded": IcmpKind((11, 0), (3, 0), "soft", "time to live / hop limit exceeded in transit"),
    "parameter-problem": IcmpKind((12, 0), (4, 0), "soft", "parameter problem: erroneous header field"),
    "proto-unreachable": IcmpKind((3, 2), (4, 1), "hard", "protocol unreachable / unrecognized next header"),
    "port-unreachable": IcmpKind((3, 3), (1, 4), "hard", "port unreachable"),
    "source-quench": IcmpKind((4, 0), None, "quench", "source quench (ICMPv4 only; deprecated by RFC 6633)"),
}
"""Every kind a case may send, by the name a case file uses."""

PMTU_FLOOR_V4 = 552
"""The smallest IPv4 path MTU the tester expects a target to take: Linux's ``net.ipv4.route.min_pmtu``
default.  A packet-too-big below it may legitimately leave a target at 552 (RFC 1191 allows a floor;
68 is IPv4's own minimum, RFC 791), so a case judging segment sizes never asks for less."""
PMTU_FLOOR_V6 = 1280
"""IPv6's minimum link MTU (RFC 8200 5): a packet-too-big below it is ignored (RFC 8201 4, Linux)."""
MIN_MTU = {False: PMTU_FLOOR_V4, True: PMTU_FLOOR_V6}
"""The MTU a case's ``mtu: minimum`` means, per family (IPv6: ``True``): the floors above, the smallest
path a conformant target must take whole (RFC 1191 7 allows none above 68; Linux's is 552), and
below 536 + 40, so even a target sending 536-byte segments has data to cut."""
HEADERS = {False: 40, True: 60}
"""IP and TCP header bytes (without options) per family: an MTU less these is the largest payload."""


def kind_of(name: str) -> IcmpKind:
    """The kind called ``name``; ``KeyError`` naming the known ones."""
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown ICMP error {name!r} (known: {', '.join(KINDS)})") from None


def path_mss(mtu: int, ipv6: bool) -> int:
    """The largest TCP payload a target should send after a packet-too-big announcing ``mtu``: the MTU,
    raised to the family's floor (:data:`PMTU_FLOOR_V4`, :data:`PMTU_FLOOR_V6`), less the headers."""
    floor = PMTU_FLOOR_V6 if ipv6 else PMTU_FLOOR_V4
    return max(mtu, floor) - HEADERS[ipv6]


@dataclass(frozen=True, slots=True)
class IcmpError:
    """An ICMP(v6) error from ``src`` to ``dst`` about ``quoted``, a segment ``dst`` sent.

    ``mtu`` is the next-hop MTU of a packet-too-big (0 for the other kinds).  The quoted segment is
    what the error is about: its addresses and ports name the connection, its sequence number is
    what RFC 5927 4.1 checks against SND.UNA..SND.NXT.
    """

    src: str
    dst: str
    kind: str
    quoted: Segment
    mtu: int = 0

    @property
    def ipv6(self) -> bool:
        return is_ipv6(self.dst)

    @property
    def type_code(self) -> tuple[int, int]:
        """The (type, code) of this family; ``ValueError`` where the family has no such message."""
        kind = kind_of(self.kind)
        pair = kind.v6 if self.ipv6 else kind.v4
        if pair is None:
            raise ValueError(f"ICMP {self.kind} exists only in ICMPv{'4' if kind.v4 else '6'}")
        return pair

    @property
    def effect(self) -> str:
        return kind_of(self.kind).effect

    def summary(self, quoted: str | None = None) -> str:
        """``ICMP frag-needed mtu 576 quoting [. 101:1101(1000) ack 1]``; ``quoted``: the quoted
        segment as the caller numbers it (else its wire numbers)."""
        family = "ICMPv6" if self.ipv6 else "ICMP"
        type_, code = self.type_code
        name, mtu = self.kind, ""
        if kind_of(self.kind).effect == "pmtu":  # each family's own name for it
            name, mtu = ("packet-too-big" if self.ipv6 else "frag-needed"), f" mtu {self.mtu}"
        return f"{family} {name} ({type_}/{code}){mtu} quoting [{quoted or self.quoted.summary()}]"
