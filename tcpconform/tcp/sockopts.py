"""The socket options a case may set on the target's application (``app: setsockopt NAME VALUE``).

Each is named as POSIX and Linux name it, with the level it lives at (``SOL_SOCKET``,
``IPPROTO_TCP``, ``IPPROTO_IP`` or ``IPPROTO_IPV6``): the agent protocol's ``setsockopt`` op
carries both, so an agent looks the name up in its own headers.  The IP options are per family (an
IPv6 socket's hop limit is ``IPV6_UNICAST_HOPS``, not ``IP_TTL``), so a case that sets one is for
that family.  The list is closed, so a typo in a case file is refused at its line rather than
discovered as an agent's error in the middle of a run; a target that lacks an option (an embedded
stack without ``TCP_KEEPIDLE``, the reference responder without ``SO_SNDBUF``) says so, and the case
is skipped with the reason.  Values are C ``int``s: 0 to 2^31 - 1.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_VALUE = (1 << 31) - 1
"""The largest value a socket option takes here (a C ``int``; none of these is negative)."""


@dataclass(frozen=True, slots=True)
class SocketOption:
    """One known option: its level and what its value means."""

    level: str
    meaning: str


SOCKET_OPTIONS: dict[str, SocketOption] = {
    "TCP_NODELAY": SocketOption("IPPROTO_TCP", "1: Nagle's algorithm off (RFC 9293 3.7.4, MUST-17); 0: on"),
    "SO_KEEPALIVE": SocketOption("SOL_SOCKET", "1: keep-alive probes on (RFC 9293 3.8.4, MUST-24); 0: off"),
    "TCP_KEEPIDLE": SocketOption("IPPROTO_TCP", "seconds of idleness before the first keep-alive probe (MUST-27)"),
    "TCP_KEEPINTVL": SocketOption("IPPROTO_TCP", "seconds between unanswered keep-alive probes"),
    "TCP_KEEPCNT": SocketOption("IPPROTO_TCP", "unanswered keep-alive probes before the connection is dropped"),
    "TCP_USER_TIMEOUT": SocketOption("IPPROTO_TCP", "milliseconds data may stay unacknowledged before the "
                                                    "connection is dropped (R2, MUST-21)"),
    "SO_SNDBUF": SocketOption("SOL_SOCKET", "the send buffer, in bytes"),
    "SO_RCVBUF": SocketOption("SOL_SOCKET", "the receive buffer, in bytes"),
    "IP_TTL": SocketOption("IPPROTO_IP", "the TTL of the IPv4 datagrams sent, 1..255 (RFC 9293 3.9.2, MUST-49)"),
    "IP_TOS": SocketOption("IPPROTO_IP", "the TOS byte of the IPv4 datagrams sent (RFC 9293 3.9.1.9, MUST-48)"),
    "IPV6_UNICAST_HOPS": SocketOption("IPPROTO_IPV6", "the hop limit of the IPv6 packets sent, 1..255 (MUST-49)"),
    "IPV6_TCLASS": SocketOption("IPPROTO_IPV6", "the Traffic Class of the IPv6 packets sent (MUST-48)"),
}
"""Every option a case may set, by name."""


def level_of(name: str) -> str:
    """The level of option ``name``; ``KeyError`` for an option not in :data:`SOCKET_OPTIONS`."""
    return SOCKET_OPTIONS[name].level
