"""A passive OPEN on a port that already has connections (RFC 9293 3.9.1.1, MUST-41): it opens a
listening socket and touches nothing else.  The application may close its listening socket
(``unlisten``) and listen again on the port while connections accepted from the first one live on;
neither move disturbs them.

Fault ``listen-resets-port``: a passive open on a port resets every connection on it (a stack that
keeps one control block per local port, and reinitialises it for the new listener).
"""

from __future__ import annotations

from tcpconform.responder.config import ResponderConfig
from tcpconform.responder.connection import Connection, ResponderError
from tcpconform.responder.events import AppAction, Event, StateChanged
from tcpconform.responder.sockopts import SocketOptions
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, FourTuple, Segment
from tcpconform.tcp.states import State


def listen_resets(config: ResponderConfig, conns: dict[FourTuple, Connection], port: int,
                  outbox: list[Segment]) -> list[FourTuple]:
    """After a passive open on ``port``: under ``listen-resets-port``, the connections on that local
    port, each with a RST put in ``outbox``, for the host to forget; else none."""
    if not config.has("listen-resets-port"):
        return []
    keys = [key for key in conns if key.sport == port]
    outbox.extend(Segment(k.src, k.dst, k.sport, k.dport, seq=conns[k].snd_nxt & seqnum.MASK, flags=Flags.RST) for k in keys)
    return keys


def unlisten(listening: set[int], options: dict[int, SocketOptions], key: FourTuple, now: float) -> list[Event]:
    """Close the listening socket of ``key`` (a listener's key: its address and port): the port is
    taken out of ``listening`` and its socket options dropped; the events that say so.
    ``ResponderError`` when nothing listens there."""
    if key.sport not in listening:
        raise ResponderError(f"no listening socket on port {key.sport}")
    listening.discard(key.sport)
    options.pop(key.sport, None)
    return [AppAction(key, "unlisten", 0, now), StateChanged(key, State.LISTEN, State.CLOSED, now,
                                                              "application closes the listening socket")]
