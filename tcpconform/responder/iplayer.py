"""The responder's IP layer: which datagrams reach TCP at all (RFC 9293 3.9.2, 3.9.2.3; RFC 1122
3.2.1.3; RFC 8200 4.2), and the faults that get it wrong.

- A datagram from an invalid source (this host's zero network or the unspecified address,
  loopback, multicast, IPv4 broadcast or class E, or the host's own address: a LAND attack) is
  silently discarded (RFC 1122 3.2.1.3; MUST-63 lets TCP or IP do it): whatever it carries, as
  an answer could only go to a host that did not send it.
- A datagram to a broadcast or multicast address is not for the host's one unicast address: a
  SYN there is silently discarded (MUST-57), like anything else not addressed to it.
- IP options TCP does not understand are ignored (MUST-50): the segment is processed as if they
  were not there.  An IPv6 destination option of unknown type is skipped only when its two high
  bits say so (00); any other action discards the datagram (RFC 8200 4.2; the ICMP Parameter
  Problem it may send is left out: the tester judges TCP).
- The application sets its segments' TTL / hop limit and TOS / Traffic Class (MUST-48, MUST-49):
  every segment of a connection carries its socket's (:func:`stamped`).
"""

from __future__ import annotations

from tcpconform.responder.addresses import own
from tcpconform.responder.config import ResponderConfig
from tcpconform.responder.sockopts import SocketOptions
from tcpconform.tcp.ip import PAD1, PADN, IpHeader, dest_option_types, group_destination, invalid_source
from tcpconform.tcp.segment import Flags, Segment


def admitted(config: ResponderConfig, seg: Segment) -> tuple[Segment, str | None]:
    """``seg`` as TCP gets it, and why it is discarded before TCP (``None``: it is not).  A segment
    for another address than the host's comes back unchanged, for the caller to ignore."""
    has = config.has
    syn = bool(seg.flags & Flags.SYN) and not seg.flags & Flags.ACK
    if not own(config, seg.dst):
        if syn and has("broadcast-syn-answered") and group_destination(seg.dst, config.ip):
            return seg.with_(dst=config.ip), None
        return seg, None
    why = invalid_source(seg.src, config.ip)
    if why is not None:
        land = seg.src == config.ip
        if syn and has("land-wedges" if land else "martian-syn-answered"):
            return seg, None
        return seg, f"source {seg.src} is {why} (RFC 1122 3.2.1.3)"
    ip = seg.ip
    if ip is None or not ip.has_options:
        return seg, None
    if has("ip-options-drop"):
        return seg, "the datagram carries IP options (fault ip-options-drop)"
    if ip.dest_options is not None:
        for kind in dest_option_types(ip.dest_options):
            if kind not in (PAD1, PADN) and kind >> 6:
                return seg, f"unknown destination option {kind:#x} whose action is to discard (RFC 8200 4.2)"
    return seg, None


def stamped(seg: Segment, options: SocketOptions, faults: frozenset[str]) -> Segment:
    """``seg`` with the TTL and TOS its socket's options set (none set: unchanged); the faults
    ``ttl-ignored`` and ``tos-ignored`` take the option and send the default.  The ECN bits TCP set
    (:mod:`.ecn`) stay."""
    ttl = None if "ttl-ignored" in faults else options.ttl
    tos = None if "tos-ignored" in faults else options.tos
    if ttl is None and tos is None:
        return seg
    ecn = seg.ip.tos & 0b11 if seg.ip is not None and seg.ip.tos is not None else 0  # the ECN field is TCP's
    return seg.with_(ip=IpHeader(ttl, None if tos is None and not ecn else ((tos or 0) & ~0b11) | ecn))
