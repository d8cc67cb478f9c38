"""The keep-alive timer of one connection (RFC 9293 3.8.4), as Linux runs it.

Invariants, which the keep-alive cases check from the wire:

- off unless the application switched it on (MUST-24, MUST-25); the idle time defaults to two hours
  (MUST-28) and is the application's to change (MUST-27);
- the first probe goes ``idle`` after the last segment received, and only while nothing is
  outstanding or queued (MUST-26): with data in flight, retransmission is what finds out whether
  the peer is there, so the check waits another idle time;
- the timer only decides: the connection sends the probe (an ACK at SND.NXT - 1 with no data,
  SHLD-12, which any peer answers with an ACK) and the RST;
- an unanswered probe is followed by another every ``interval`` (MUST-29: one lost probe is no
  proof of a dead peer); only after ``count`` of them does :meth:`KeepAlive.on_timer` say
  ``abort``: the connection sends a RST and closes, as Linux does;
- any segment received answers the probes: the count starts again, and so does the idle time.

Switching it on starts the idle time from then (Linux's ``tcp_set_keepalive``); changing the idle
time while it is on counts it from the last segment received, and at once if that is longer ago.
The faults ``keepalive-default-on``, ``keepalive-one-probe-kills`` and ``keepalive-ignores-traffic``
(a periodic timer that probes whatever was received, and whatever is outstanding) are decided here
(the first by :func:`enabled`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tcpconform.responder.sockopts import SocketOptions

Action = Literal["probe", "abort"]


def enabled(options: SocketOptions, faults: frozenset[str]) -> bool:
    """Whether keep-alive is on: the application's SO_KEEPALIVE, or always under ``keepalive-default-on``."""
    return options.keepalive or "keepalive-default-on" in faults


@dataclass(slots=True)
class KeepAlive:
    """The timer's state; see the module docstring."""

    heard: float
    """When the last segment arrived (or the connection began)."""
    at: float | None = None
    """When :meth:`on_timer` must run next; ``None`` while keep-alive is off."""
    probes: int = 0
    """Probes sent since the last segment arrived."""

    @classmethod
    def begin(cls, options: SocketOptions, faults: frozenset[str], now: float) -> KeepAlive:
        """The timer of a connection that begins at ``now`` with ``options`` (its listener's)."""
        timer = cls(heard=now)
        timer.start(options, faults, now)
        return timer

    def start(self, options: SocketOptions, faults: frozenset[str], now: float) -> None:
        """Keep-alive was just switched on (or the connection began with it on): idle from ``now``."""
        self.at = now + options.keepidle if enabled(options, faults) else None

    def option_set(self, name: str, was_on: bool, options: SocketOptions, faults: frozenset[str], now: float) -> None:
        """The application set option ``name`` (SO_KEEPALIVE was ``was_on`` before): switched on, the
        idle time starts now; TCP_KEEPIDLE changed while on, it counts from the last segment received."""
        if name == "SO_KEEPALIVE" and options.keepalive != was_on:
            self.start(options, faults, now)
        elif name == "TCP_KEEPIDLE" and enabled(options, faults) and self.probes == 0:
            self.at = max(now, self.heard + options.keepidle)

    def stop(self) -> None:
        self.at = None
        self.probes = 0

    def on_receive(self, options: SocketOptions, faults: frozenset[str], now: float) -> None:
        """A segment arrived: the peer is there.  Under ``keepalive-ignores-traffic`` the timer runs on."""
        self.heard, self.probes = now, 0
        if enabled(options, faults) and "keepalive-ignores-traffic" not in faults:
            self.at = now + options.keepidle

    def on_timer(self, options: SocketOptions, faults: frozenset[str], now: float, *,
                 eligible: bool, busy: bool) -> Action | None:
        """What is due at ``now``: a probe, giving up, or nothing.  ``eligible``: the connection is in
        a state that probes (ESTABLISHED, CLOSE_WAIT); ``busy``: data is outstanding or queued."""
        if self.at is None or now < self.at:
            return None
        if not enabled(options, faults) or not eligible:
            self.at = None
            return None
        if busy and "keepalive-ignores-traffic" not in faults:
            self.at = now + options.keepidle
            return None
        limit = 1 if "keepalive-one-probe-kills" in faults else options.keepcnt
        if self.probes >= limit:
            self.stop()
            return "abort"
        self.probes += 1
        self.at = now + options.keepintvl
        return "probe"
