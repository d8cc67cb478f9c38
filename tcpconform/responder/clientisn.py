"""The fault ``client-isn-counter``: an active open's ISN from a counter, the passive side's left alone.

4.2BSD stepped its global ``tcp_iss`` by ``TCP_ISSINCR / 2`` (64000) on every connect, and small
stacks (uIP's global ``iss``, older embedded stacks) still take each active open's ISN from a
counter: clock-driven enough that no ISN repeats soon, but a connection's ISN gives away the next
one's (RFC 6528 1, NUMBER:JACK).  The first active open takes RFC 6528's ISN, as the SYN-ACKs do;
each later one the previous one's + :data:`CLIENT_ISN_STEP`.  A pure function of the previous ISN:
the responder keeps it (:class:`~tcpconform.responder.host.Responder`).
"""

from __future__ import annotations

from dataclasses import replace

from tcpconform.responder.config import ResponderConfig
from tcpconform.responder.syn import choose_isn
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import FourTuple

CLIENT_ISN_STEP = 64000
"""4.2BSD's per-connect step of its ISN counter (``TCP_ISSINCR / 2``)."""


def active_open_config(cfg: ResponderConfig, key: FourTuple, now: float,
                       previous: int | None) -> tuple[ResponderConfig, int | None]:
    """The configuration an active open on ``key`` is made with, and the counter's new value
    (``None``, and ``cfg`` unchanged, without the fault)."""
    if not cfg.has("client-isn-counter"):
        return cfg, previous
    isn = choose_isn(cfg, key, now) if previous is None else seqnum.add(previous, CLIENT_ISN_STEP)
    return replace(cfg, isn=isn), isn
