"""Settings of the reference responder.

The defaults are the reference server of the bundled seed cases (``testcases/seed``): port 8000,
an Ethernet link's MSS (1460; 1440 over IPv6), a 65535-byte window, ACKs delayed up to 200 ms, an
application that reads 1024 bytes, answers with 700 and closes once the peer's FIN arrived.  The
cases expect exactly that exchange.

Both classes are frozen and validated on construction so that a bad profile fails where it is
written, not halfway through a run.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal

from tcpconform.responder.faults import FAULTS

IGNORE_MSS_SEGMENT = 1460
"""Segment size used by the ``ignore-mss`` fault: a typical Ethernet MSS, above anything a test offers."""
IGNORE_MSS_SEGMENT6 = 1440
"""The same over IPv6, whose header is 20 bytes longer: what still fits a 1500-byte Ethernet frame."""

SLOW_ACK_DELAY = 0.6
"""ACK hold time of the ``slow-ack`` fault: beyond the 500 ms RFC 9293 allows (3.8.6.3)."""

MAX_RTO = 60.0
"""Upper bound of the backed-off retransmission and persist timeouts (RFC 6298 2.5 allows >= 60 s)."""

WINDOW_FIELD_MAX = 0xFFFF
"""The 16-bit window field: the widest window without window scaling."""


@dataclass(frozen=True, slots=True)
class AppConfig:
    """The application behind the responder's listening port.

    ``scripted``: the bundled application of the seed cases.  It waits until ``read_bytes`` bytes can
    be read, reads them, writes ``reply_bytes`` bytes of the target stream (:mod:`tcpconform.tcp.payload`),
    and closes ``close_delay`` seconds after its close condition holds:

    - ``after-fin``: the peer's FIN has arrived and the reply was written (the seed: passive close);
    - ``after-reply``: the reply was written (active close: the responder sends the first FIN);
    - ``never``: the connection stays in CLOSE_WAIT once the peer has closed.

    If the peer's FIN comes before ``read_bytes`` bytes did, the application reads what there is and
    writes nothing (its request was never complete).  ``read_bytes=0`` makes it write as soon as the
    connection is established (a server that speaks first).

    ``agent``: nothing happens on its own; the engine plays the application through the ``app_*``
    methods of :class:`~tcpconform.responder.Responder`, and nothing listens until ``app_listen``.

    ``services``: the classic services of :mod:`tcpconform.responder.services` (echo, discard,
    chargen, daytime), each listening on its port in ``services`` (name, port).
    """

    mode: Literal["scripted", "agent", "services"] = "scripted"
    read_bytes: int = 1024
    reply_bytes: int = 700
    close: Literal["after-fin", "after-reply", "never"] = "after-fin"
    close_delay: float = 0.0
    services: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in ("scripted", "agent", "services"):
            raise ValueError(f"app mode must be 'scripted', 'agent' or 'services', not {self.mode!r}")
        if (self.mode == "services") != bool(self.services):
            raise ValueError("app services (name, port) go with mode 'services', and it needs at least one")
        ports = [port for _, port in self.services]
        if len(set(ports)) != len(ports) or not all(0 < port <= 0xFFFF for port in ports):
            raise ValueError(f"app services need distinct ports in 1..65535, not {ports}")
        if self.close not in ("after-fin", "after-reply", "never"):
            raise ValueError(f"app close must be 'after-fin', 'after-reply' or 'never', not {self.close!r}")
        if self.read_bytes < 0 or self.reply_bytes < 0:
            raise ValueError("app read_bytes and reply_bytes must be >= 0")
        if self.close_delay < 0:
            raise ValueError("app close_delay must be >= 0")


def _second_address(ip: str, alt: str) -> bool:
    """Whether ``alt`` is an address of ``ip``'s family other than ``ip``."""
    try:
        first, second = ipaddress.ip_address(ip), ipaddress.ip_address(alt)
    except ValueError:
        return False
    return first.version == second.version and first != second


@dataclass(frozen=True, slots=True)
class ResponderConfig:
    """The responder's address, its TCP parameters and the faults switched on.

    - ``alt_ip``: a second address of the same family on the same link, or ``None``: the host is
      multihomed (RFC 9293 3.9.1.1; :mod:`.addresses`), each connection keeping the local address it
      began on.

    - ``isn``: ``None`` (the default) chooses every ISN as RFC 6528 says, ``M + F(4-tuple, secret)``
      with ``M`` the 4-microsecond clock and ``F`` a keyed hash, as RFC 9293 3.4.1 requires (MUST-8,
      SHLD-1).  ``isn_secret`` is the key; it is fixed by default, so the responder stays exactly
      reproducible (on the virtual clock, the same run gives the same numbers) while what a peer sees
      still has RFC 6528's statistics.  An integer gives every connection that ISN (``isn=100``
      reproduces the seed cases' absolute numbers); a constant ISN is not conformant, and the ISN
      statistics case says so.
    - ``window``: the receive buffer, advertised as the window when nothing is unread (at most 65535
      shifted by ``window_scale``; never more than 65535 to a peer that did not offer window scaling).
    - ``window_scale``: the shift the responder answers a Window Scale option with (0..14); ``None``
      never sends one.  The default 0 scales nothing of its own (its windows read as without
      scaling) while the peer's shift applies to the peer's windows, so every peer-side rule of RFC
      7323 2 is exercised and a peer offering no Window Scale option (the seed cases) sees the
      exchange unchanged.
    - ``timestamps``: answer a Timestamps option in the SYN with timestamps on the connection (RFC
      7323 3-5, PAWS included); ``ecn``: answer an ECN-setup SYN with an ECN-setup SYN-ACK (RFC 3168
      6.1.1).  Neither is ever offered unasked.  ``sack``: answer SACK-permitted in the SYN with
      SACK-permitted, and send SACK blocks (RFC 2018; :mod:`.sack`).
    - ``mss``: the responder's own MSS over IPv4: the largest segment it sends (with the peer's MSS)
      and the "full-sized segment" of its delayed-ACK rule: what an Ethernet link allows (1500 - 40),
      so a peer offering more (a path MTU case's 1400) gets segments a smaller path must cut.  ``mss6``
      is the same over IPv6 (1500 - 60), above the 1220 default, so assuming the wrong default shows.
      ``mss_option`` is the MSS option it puts in its SYN-ACK; ``None`` sends no option, as in the
      seed cases (the peer then assumes 536, or 1220 over IPv6).
    - ``delayed_ack``: the longest an ACK is held (RFC 9293 3.8.6.3: < 500 ms).
    - ``rto``: the initial retransmission timeout (RFC 6298 2.1); from the first RTT sample on the RTO
      is computed from SRTT and RTTVAR (:mod:`.rtt`), never below 1 s (or ``rto`` if smaller); it
      doubles on every retransmission of the same segment (up to 60 s).
    - ``initial_window``: the initial congestion window in segments (RFC 6928 allows 10); ``None``, the
      default, is RFC 5681 3.1's bound, min(4 SMSS, max(2 SMSS, 4380)) bytes (:mod:`.congestion`).
    - ``msl``: the maximum segment lifetime; TIME_WAIT lasts ``2 * msl``.  30 s is a common stack
      value; the responder never reads a clock, so a long TIME_WAIT costs a test nothing but a
      ``handle_timer`` call at a later ``now``.
    - ``max_retransmits``: retransmissions of one segment before the connection is dropped; ``None``
      (the default): no count, R2's time alone (:mod:`.giveup`: 120 s for data, 200 s for a SYN).
    - ``backlog``: connections in SYN-RECEIVED at most; a SYN beyond them is dropped unanswered, as
      a listener with a full queue does (the peer retransmits it), so a flood of SYNs costs a
      bounded amount of memory.
    - ``max_connections``: connections at most, in any state; a SYN beyond them is dropped the same
      way (as a server out of sockets refuses to accept).  RFC 9293 has no keepalive, so a peer that
      goes silent leaves an ESTABLISHED, CLOSE_WAIT or FIN_WAIT_2 connection for ever: this is what
      bounds them on a responder serving for days.
    """

    ip: str = "192.0.2.2"
    alt_ip: str | None = None
    port: int = 8000
    isn: int | None = None
    isn_secret: bytes = b"tcpconform reference responder"
    window: int = 65535
    window_scale: int | None = 0
    timestamps: bool = True
    ecn: bool = True
    sack: bool = True
    mss: int = 1460
    mss6: int = 1440
    mss_option: int | None = None
    delayed_ack: float = 0.2
    rto: float = 1.0
    initial_window: int | None = None
    msl: float = 30.0
    max_retransmits: int | None = None
    backlog: int = 128
    max_connections: int = 4096
    app: AppConfig = field(default_factory=AppConfig)
    faults: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        faults = frozenset([self.faults] if isinstance(self.faults, str) else self.faults)
        unknown = sorted(faults - FAULTS.keys())
        if unknown:
            raise ValueError(
                f"unknown fault(s) {', '.join(map(repr, unknown))} (known: {', '.join(sorted(FAULTS))})"
            )
        object.__setattr__(self, "faults", faults)
        if self.alt_ip is not None and not _second_address(self.ip, self.alt_ip):
            raise ValueError(f"alt_ip must be a second address of ip's family, not {self.alt_ip!r}")
        if not 0 < self.port <= 0xFFFF:
            raise ValueError(f"port must be 1..65535, not {self.port}")
        if self.isn is not None and not 0 <= self.isn <= 0xFFFFFFFF:
            raise ValueError(f"isn must be 0..2^32-1, not {self.isn}")
        if self.window_scale is not None and not 0 <= self.window_scale <= 14:
            raise ValueError(f"window_scale must be None or 0..14 (RFC 7323 2.3), not {self.window_scale}")
        widest = WINDOW_FIELD_MAX << (self.window_scale or 0)
        if not 0 < self.window <= widest:
            raise ValueError(f"window must be 1..{widest} (65535 shifted by window_scale), not {self.window}")
        if self.mss <= 0 or self.mss6 <= 0:
            raise ValueError(f"mss and mss6 must be > 0, not {self.mss}, {self.mss6}")
        if self.mss_option is not None and not 0 < self.mss_option <= 0xFFFF:
            raise ValueError(f"mss_option must be None or 1..65535, not {self.mss_option}")
        if not 0 <= self.delayed_ack < 0.5:
            raise ValueError(
                f"delayed_ack must be in [0, 0.5) seconds (RFC 9293 3.8.6.3), not {self.delayed_ack}"
            )
        if self.rto <= 0 or self.msl <= 0:
            raise ValueError("rto and msl must be > 0")
        if self.initial_window is not None and not 1 <= self.initial_window <= 64:
            raise ValueError(f"initial_window must be None or 1..64 segments, not {self.initial_window}")
        if self.max_retransmits is not None and self.max_retransmits < 0:
            raise ValueError("max_retransmits must be >= 0")
        if self.backlog < 1 or self.max_connections < 1:
            raise ValueError("backlog and max_connections must be >= 1")

    @property
    def own_mss(self) -> int:
        """The responder's own MSS in the family of its address."""
        return self.mss6 if ":" in self.ip else self.mss

    def has(self, fault: str) -> bool:
        """Whether ``fault`` is switched on (and spelled right: a typo here is a bug, so it raises)."""
        if fault not in FAULTS:
            raise KeyError(f"unknown fault {fault!r}")
        return fault in self.faults
