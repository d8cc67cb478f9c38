"""The responder's addresses: a host with two of one family on one link (RFC 9293 3.9.1.1), and the
faults that get multihoming wrong.

- A segment to either address is the host's (``config.ip``, ``config.alt_ip``); a connection's key
  holds the local address its peer's SYN went to (or its application bound), so every segment of
  the connection goes out from that address (MUST-45), the SYN of an active open from the address
  bound (MUST-43).
- An active open to a broadcast or multicast address is refused (MUST-46): TCP is point to point,
  and a SYN to a group could only draw answers from hosts that never asked for a connection.
- An active open with the port alone bound takes the address IP chooses (its first) before the SYN
  goes out (MUST-44).

Faults: ``reply-from-primary`` sends every segment from the first address, whatever the connection's
local address (a stack that takes the source from its routing table for each segment, not from the
connection); ``connect-to-group`` lets an active
open to a group address proceed and sends its SYN there (a stack whose connect checks only that a
route exists); ``unbound-source-unspecified`` sends the first SYN of an open with no local address
bound from the unspecified address (a stack that sends before it asks IP for a source, and asks
only for the retransmissions).
"""

from __future__ import annotations

from tcpconform.responder.config import ResponderConfig
from tcpconform.tcp.ip import group_destination
from tcpconform.tcp.segment import Flags, FourTuple, Segment


def own(config: ResponderConfig, address: str) -> bool:
    """Whether ``address`` is one of the host's."""
    return address == config.ip or (config.alt_ip is not None and address == config.alt_ip)


def refused_connect(config: ResponderConfig, key: FourTuple) -> str | None:
    """Why an active open on ``key`` (local first) is refused, ``None`` if it is not: a local
    address not the host's, or a remote one that is a group (MUST-46; fault ``connect-to-group``
    lets that through)."""
    if not own(config, key.src) or not 0 < key.sport <= 0xFFFF or not 0 < key.dport <= 0xFFFF:
        return f"cannot connect from {key.src}:{key.sport}: not an address and port of this host"
    if group_destination(key.dst, config.ip) and not config.has("connect-to-group"):
        return (f"cannot connect to {key.dst}: a broadcast or multicast address (RFC 9293 3.9.1.1: "
                "an active OPEN to one is refused)")
    return None


def sourced(config: ResponderConfig, out: list[Segment]) -> list[Segment]:
    """The segments as they leave: fault ``reply-from-primary`` puts the first address on each."""
    if config.alt_ip is None or not config.has("reply-from-primary"):
        return out
    return [seg.with_(src=config.ip) if seg.src == config.alt_ip else seg for seg in out]


def unbound_syn(config: ResponderConfig, outbox: list[Segment], key: FourTuple) -> None:
    """After an active open on ``key`` with the port alone bound (its address the first, which IP
    chose): fault ``unbound-source-unspecified`` sends its first SYN from the unspecified address."""
    if not config.has("unbound-source-unspecified"):
        return
    zero = "::" if ":" in config.ip else "0.0.0.0"
    outbox[:] = [seg.with_(src=zero) if seg.key == key and seg.flags & Flags.SYN else seg for seg in outbox]
