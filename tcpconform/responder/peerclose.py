"""How the application learns the way its peer ended the connection (RFC 9293 3.6, MUST-12): a FIN
is the end of the stream (a read returns end of file once the data before it is read), a RST an
abort (the read fails: connection reset), and the faults that tell one for the other.

The host remembers which connections a RST ended (the latest :data:`RESETS_KEPT`): the TCB is gone
by then (RFC 9293 3.10.7.4), and only the application's next call can still report it.
"""

from __future__ import annotations

from tcpconform.tcp.segment import FourTuple
from tcpconform.tcp.streamend import ReadEnd

RESETS_KEPT = 1024
"""Connections ended by a RST whose reset the application can still be told of (the latest), as many
as the host remembers ended connections: a bounded memory for a responder serving for days."""


class PeerEnds:
    """The connections a peer's RST ended, oldest first, at most :data:`RESETS_KEPT`."""

    def __init__(self) -> None:
        self._reset: dict[FourTuple, None] = {}

    def reset(self, key: FourTuple) -> None:
        self._reset.pop(key, None)
        self._reset[key] = None
        if len(self._reset) > RESETS_KEPT:
            del self._reset[next(iter(self._reset))]

    def forget(self, key: FourTuple) -> None:
        self._reset.pop(key, None)

    def clear(self) -> None:
        self._reset.clear()

    def was_reset(self, key: FourTuple) -> bool:
        return key in self._reset


def read_end(fin_read: bool, reset: bool, faults: frozenset[str]) -> ReadEnd:
    """What the application's read reports: ``fin_read`` (the peer's FIN is in and every octet before
    it read), ``reset`` (a RST ended the connection); the faults ``rst-as-eof`` and ``fin-as-reset``
    report one as the other."""
    if reset:
        return "eof" if "rst-as-eof" in faults else "reset"
    if fin_read:
        return "reset" if "fin-as-reset" in faults else "eof"
    return "open"
