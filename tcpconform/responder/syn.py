"""What a connection settles from the SYN that creates it: its initial sequence number and the peer's MSS.

Both are pure functions of the SYN, the configuration and ``now``: nothing here reads a clock.
"""

from __future__ import annotations

import hashlib

from tcpconform.responder.config import ResponderConfig
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import FourTuple, Segment

ISN_CLOCK_HZ = 250_000
"""RFC 9293 3.4.1: the ISN clock's low bit ticks about every 4 microseconds."""


def choose_isn(cfg: ResponderConfig, key: FourTuple, now: float) -> int:
    """The connection's ISN: RFC 6528's ``ISN = M + F(localip, localport, remoteip, remoteport, secretkey)``.

    ``M`` is the 4-microsecond clock read from ``now`` (the responder never reads a clock itself);
    ``F`` is a keyed hash, so two connections differing only in a port get unrelated ISNs and one
    observed ISN tells nothing about the next (RFC 6528 section 3).  ``key`` is the connection as the
    responder sees it: local address and port first.
    """
    if cfg.has("fixed-isn"):
        return 0
    if cfg.isn is not None:
        return cfg.isn
    clock = int(now * ISN_CLOCK_HZ)
    if cfg.has("linear-isn"):
        return clock & seqnum.MASK
    material = f"{key.src}|{key.sport}|{key.dst}|{key.dport}".encode()
    keyed = hashlib.blake2s(material, key=cfg.isn_secret[:32], digest_size=4).digest()
    return (clock + int.from_bytes(keyed, "big")) & seqnum.MASK


def peer_mss_option(syn: Segment, stop_at_nop: bool = False) -> int | None:
    """The MSS the peer offered in its SYN; ``stop_at_nop`` is the fault ``misparse-nop``."""
    for kind, value in syn.options:
        if kind == "NOP" and stop_at_nop:
            return None
        if kind == "MSS":
            return value if isinstance(value, int) else None
    return None
