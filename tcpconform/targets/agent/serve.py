"""An agent's side of the UDP transport: :func:`serve_udp` answers one request per datagram.

The engine sends a request again when its answer does not come in time, so a request may arrive
twice (or its answer may be lost and the request come again).  Requests that change the target
(``write``, ``close``) must take effect once: the agent keeps the last :data:`REPLAY_SLOTS` responses,
each under its sender and request id with the request's exact bytes, and answers a duplicate with
the kept response, never by running it again.  A request with a kept id but other bytes is a new
one (a new engine session counting from the same id) and is run.
"""

from __future__ import annotations

import logging
import socket
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from tcpconform.targets.agent.protocol import AgentHandler, ProtocolError, decode_line, encode_line, error_response, handle_line

log = logging.getLogger("tcpconform.targets.agent.serve")

REPLAY_SLOTS = 8
"""Responses kept for replay: the engine has one request outstanding, so a few cover any reordering."""
MAX_DATAGRAM = 65507


class ReplayCache:
    """The last responses, by (sender, request id), with the request each answered."""

    def __init__(self, slots: int = REPLAY_SLOTS) -> None:
        self.slots = slots
        self._kept: OrderedDict[tuple[Any, Any], tuple[bytes, bytes]] = OrderedDict()

    def replay(self, sender: Any, rid: Any, request: bytes) -> bytes | None:
        """The response kept for this very request, if it was answered before."""
        kept = self._kept.get((sender, rid))
        return kept[1] if kept is not None and kept[0] == request else None

    def keep(self, sender: Any, rid: Any, request: bytes, response: bytes) -> None:
        self._kept[(sender, rid)] = (request, response)
        self._kept.move_to_end((sender, rid))
        while len(self._kept) > self.slots:
            self._kept.popitem(last=False)


def _request_id(request: bytes) -> Any:
    """The request's id if it has a hashable one, else ``None`` (such a request is never replayed)."""
    try:
        message = decode_line(request)
    except ProtocolError:
        return None
    rid = message.get("id") if isinstance(message, Mapping) else None
    return rid if isinstance(rid, int | str) and not isinstance(rid, bool) else None


def serve_udp(handler: AgentHandler, sock: socket.socket, cache: ReplayCache | None = None) -> None:
    """Answer datagrams on the bound ``sock`` until a ``quit`` is answered.  Blocking, like
    :func:`~tcpconform.targets.agent.protocol.serve_stdio`: the work happens inside the requests."""
    cache = cache if cache is not None else ReplayCache()
    while True:
        data, sender = sock.recvfrom(MAX_DATAGRAM + 1)
        request = data.strip()
        if not request:
            continue
        rid = _request_id(request)
        kept = cache.replay(sender, rid, request) if rid is not None else None
        if kept is not None:
            log.debug("duplicate of request %r from %s: its answer again", rid, sender)
            _send(sock, kept, sender)
            continue
        out, quitting = handle_line(handler, request)
        if len(out) > MAX_DATAGRAM:
            out = encode_line(error_response(rid, "agent", f"the answer ({len(out)} bytes) does not fit one datagram: "
                                                           "ask for less"))
        if rid is not None:
            cache.keep(sender, rid, request, out)
        _send(sock, out, sender)
        if quitting:
            return


def _send(sock: socket.socket, out: bytes, sender: Any) -> None:
    try:
        sock.sendto(out, sender)
    except OSError as err:  # that answer is lost, as a datagram may be: the engine asks again
        log.warning("answer to %s not sent: %s", sender, err)
