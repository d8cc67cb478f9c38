"""The socket options the reference responder honours, and Nagle's algorithm, which one switches off.

A listening port keeps a :class:`SocketOptions`; a connection starts with a copy of its port's (as
a socket accepted from a listener inherits the listener's options) and may change its own.  The
defaults are RFC 9293's: Nagle on (3.7.4, SHLD-7), keep-alive off (3.8.4, MUST-25) with an idle time
of two hours (MUST-28); the probe interval and count are Linux's (75 s, 9 probes).  TCP_USER_TIMEOUT,
in milliseconds as Linux takes it, replaces R2 for the connection (MUST-21, :mod:`.giveup`).  An option the
responder does not implement, or a value outside the range Linux accepts, is refused with
:class:`UnsupportedOption`, as an agent answers for a stack without it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

KEEPALIVE_IDLE = 7200.0
"""The default idle time before the first keep-alive probe: RFC 9293 3.8.4 (MUST-28) says no less
than two hours, and Linux's ``tcp_keepalive_time`` is exactly that."""
SHORT_KEEPALIVE_IDLE = 20.0
"""The default idle time of the fault ``keepalive-idle-20s`` (FreeRTOS+TCP's ``ipconfigTCP_KEEP_ALIVE_INTERVAL``)."""
KEEPALIVE_INTERVAL = 75.0
"""The default time between unanswered probes (Linux's ``tcp_keepalive_intvl``)."""
KEEPALIVE_COUNT = 9
"""The default number of unanswered probes before the connection is dropped (``tcp_keepalive_probes``)."""

_LIMITS = {"TCP_KEEPIDLE": 32767, "TCP_KEEPINTVL": 32767, "TCP_KEEPCNT": 127}
"""The largest value Linux accepts for each (its ``MAX_TCP_KEEPIDLE``...); the smallest is 1."""


_IP_FIELDS = frozenset({"IP_TTL", "IP_TOS", "IPV6_UNICAST_HOPS", "IPV6_TCLASS"})
"""The options that set a field of the IP header of every segment sent (:mod:`.iplayer`)."""


class UnsupportedOption(Exception):
    """The responder has no such option, or refuses the value."""


@dataclass(slots=True)
class SocketOptions:
    """One socket's options; see the module docstring for the defaults."""

    nodelay: bool = False
    keepalive: bool = False
    keepidle: float = KEEPALIVE_IDLE
    keepintvl: float = KEEPALIVE_INTERVAL
    keepcnt: int = KEEPALIVE_COUNT
    user_timeout: float | None = None
    """TCP_USER_TIMEOUT in seconds (R2, :mod:`.giveup`); ``None``: the default (Linux's 0)."""
    ttl: int | None = None
    """IP_TTL / IPV6_UNICAST_HOPS (``None``: the default, 64)."""
    tos: int | None = None
    """IP_TOS / IPV6_TCLASS (``None``: 0)."""

    def copy(self) -> SocketOptions:
        return replace(self)

    def get(self, name: str) -> int:
        """Option ``name`` as getsockopt reads it (seconds, counts, milliseconds, as Linux gives them;
        the IP fields' defaults when unset); :class:`UnsupportedOption` for one the responder lacks."""
        values = {"TCP_NODELAY": int(self.nodelay), "SO_KEEPALIVE": int(self.keepalive), "TCP_KEEPIDLE": int(self.keepidle),
                  "TCP_KEEPINTVL": int(self.keepintvl), "TCP_KEEPCNT": self.keepcnt,
                  "TCP_USER_TIMEOUT": round((self.user_timeout or 0) * 1000), "IP_TTL": self.ttl or 64,
                  "IPV6_UNICAST_HOPS": self.ttl or 64, "IP_TOS": self.tos or 0, "IPV6_TCLASS": self.tos or 0}
        if name not in values:
            raise UnsupportedOption(f"the reference responder has no socket option {name}")
        return values[name]

    def set(self, name: str, value: int) -> None:
        """Set option ``name`` to ``value``; :class:`UnsupportedOption` for another name or a refused value."""
        if name in ("TCP_NODELAY", "SO_KEEPALIVE"):
            if name == "TCP_NODELAY":
                self.nodelay = bool(value)
            else:
                self.keepalive = bool(value)
            return
        if name == "TCP_USER_TIMEOUT":  # milliseconds, 0 for the default, as Linux takes it
            self.user_timeout = value / 1000 if value else None
            return
        if name in _IP_FIELDS:
            low = 1 if name in ("IP_TTL", "IPV6_UNICAST_HOPS") else 0
            if not low <= value <= 255:
                raise UnsupportedOption(f"{name} takes {low}..255, not {value}")
            if name in ("IP_TTL", "IPV6_UNICAST_HOPS"):
                self.ttl = value
            else:  # as Linux does for a TCP socket: the ECN bits stay TCP's (RFC 3168 6.1)
                self.tos = value & 0xFC
            return
        limit = _LIMITS.get(name)
        if limit is None:
            raise UnsupportedOption(f"the reference responder has no socket option {name}")
        if not 1 <= value <= limit:
            raise UnsupportedOption(f"{name} takes 1..{limit}, not {value}")
        if name == "TCP_KEEPIDLE":
            self.keepidle = float(value)
        elif name == "TCP_KEEPINTVL":
            self.keepintvl = float(value)
        else:
            self.keepcnt = value


def defaults(faults: frozenset[str]) -> SocketOptions:
    """A new socket's options; under the fault ``keepalive-idle-20s`` the idle time before the first
    keep-alive probe defaults to 20 s, not RFC 9293's two hours (MUST-28)."""
    return SocketOptions(keepidle=SHORT_KEEPALIVE_IDLE) if "keepalive-idle-20s" in faults else SocketOptions()


def nagle_holds(options: SocketOptions, faults: frozenset[str]) -> bool:
    """Whether Nagle's algorithm holds back a segment smaller than the MSS while an earlier small
    segment is unacknowledged (the caller knows both, and that no FIN waits behind it).

    Minshall's variant, as Linux and the BSDs send: a small segment waits while an earlier *small*
    segment is unacknowledged, so the last part of a large write is not held
    behind its own full-sized segments (RFC 9293 3.7.4 names the variant).  Off with TCP_NODELAY
    (MUST-17), except under the fault ``nodelay-ignored``; never on under ``no-nagle``."""
    if "no-nagle" in faults:
        return False
    return not options.nodelay or "nodelay-ignored" in faults
