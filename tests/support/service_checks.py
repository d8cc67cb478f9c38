"""Kernel TCP clients that check a service behaves as its model says (:mod:`support.services`).

A connection is opened from a namespace (the tester's) with a source port above the tester's
20000-59999, so no case ever meets its 4-tuple.  Each ``check_*`` drives one connection and raises
:class:`ModelMismatch` with what was seen when the service does not do what its RFC says.

- echo: what is sent comes back, and after our FIN the service closes.
- discard: accepts what is sent, sends nothing, and closes after our FIN.
- chargen: sends the rotating pattern from its first line on, and keeps sending after our FIN
  (it never reads, so it never sees it); our close with unread data resets it.  What :func:`check`
  does is one period of the pattern, without a FIN (as quick as the other three).
- daytime: one line, date and time, then EOF, with nothing sent by us.
"""

from __future__ import annotations

import calendar
import itertools
import socket
import time
from collections.abc import Callable

from support.services import CHARGEN_CYCLE

_SPORTS = itertools.cycle(range(61000, 65000))


class ModelMismatch(AssertionError):
    """The service answered otherwise than its model; the message says what came."""


def connect(ns: str, ip: str, port: int, timeout: float = 2.0) -> socket.socket:
    """A kernel TCP socket created in namespace ``ns``, connected to ``ip:port`` (blocking, ``timeout`` each call)."""
    from tcpconform.lab.netns import in_netns

    with in_netns(ns):
        s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.settimeout(timeout)
        s.bind(("", next(_SPORTS)))
        s.connect((ip, port))
    except BaseException:
        s.close()
        raise
    return s


def read_to_eof(s: socket.socket, limit: int = 1 << 20) -> bytes:
    """Everything until the peer's FIN (a timeout raises: the peer did not close)."""
    got = bytearray()
    while chunk := s.recv(65536):
        got += chunk
        if len(got) > limit:
            raise ModelMismatch(f"more than {limit} bytes and no FIN: {bytes(got[:80])!r}...")
    return bytes(got)


def check_echo(s: socket.socket) -> None:
    """What is sent comes back; then, after our FIN, EOF.

    The FIN follows the echo rather than overtaking it: pasta, given the FIN before it has relayed
    the echo back, relays the echo and then never the FIN of the service's close (passt as Debian
    ships it), and that is the stack's business, not the service's.
    """
    sent = bytes(range(256)) * 16 + b"tcpconform"
    s.sendall(sent)
    back = bytearray()
    while len(back) < len(sent) and (chunk := s.recv(65536)):
        back += chunk
    s.shutdown(socket.SHUT_WR)
    back += read_to_eof(s)
    if back != sent:
        raise ModelMismatch(f"echo: sent {len(sent)} bytes, {len(back)} came back before EOF: {bytes(back[:80])!r}")


def check_discard(s: socket.socket) -> None:
    s.sendall(b"tcpconform" * 100)
    s.shutdown(socket.SHUT_WR)
    back = read_to_eof(s)
    if back:
        raise ModelMismatch(f"discard: sent {len(back)} bytes back: {back[:80]!r}")


def _chargen_expected(offset: int, n: int) -> bytes:
    start = offset % len(CHARGEN_CYCLE)
    reps = (start + n) // len(CHARGEN_CYCLE) + 1
    return (CHARGEN_CYCLE * reps)[start:start + n]


def check_chargen(s: socket.socket, after_fin: float | None = None) -> None:
    """The pattern from its first line on, intact: one period of it, or, given ``after_fin``, all that
    comes in the ``after_fin`` seconds after our FIN, with data still arriving at the end (no EOF).

    Through pasta (passt as Debian ships it) the stream after our FIN is not that: some tens of
    kilobytes on it either stops or starts over from line 0 (pasta sends bytes again as new data
    once its peer has half-closed; an echo answered after our FIN comes twice or more, its FIN never).
    """
    if after_fin is not None:
        s.shutdown(socket.SHUT_WR)
    offset = 0
    start = last = time.monotonic()
    while offset < len(CHARGEN_CYCLE) or (after_fin is not None and last - start < after_fin):
        try:
            chunk = s.recv(65536)
        except TimeoutError:
            raise ModelMismatch(f"chargen: nothing more after {offset} bytes, {time.monotonic() - start:.2f} s "
                                f"after {'our FIN' if after_fin is not None else 'the handshake'}") from None
        if not chunk:
            raise ModelMismatch(f"chargen: EOF after {offset} bytes, {time.monotonic() - start:.2f} s after our FIN")
        if chunk != _chargen_expected(offset, len(chunk)):
            raise ModelMismatch(f"chargen: bytes {offset}.. are not the pattern: {chunk[:80]!r}")
        offset += len(chunk)
        last = time.monotonic()


def check_daytime(s: socket.socket, slack: float = 60.0) -> None:
    """One line, ``Weekday, Month D, YYYY HH:MM:SS-UTC`` within ``slack`` seconds of now, then EOF."""
    got = read_to_eof(s)
    try:
        text = got.decode("ascii")
        if not text.endswith("-UTC\r\n") or text.count("\n") != 1:
            raise ValueError("not one line ending in -UTC CR LF")
        when = calendar.timegm(time.strptime(text[:-len("-UTC\r\n")], "%A, %B %d, %Y %H:%M:%S"))
    except ValueError as e:
        raise ModelMismatch(f"daytime: not one date-and-time line then EOF ({e}): {got[:200]!r}") from None
    if abs(when - time.time()) > slack:
        raise ModelMismatch(f"daytime: {text!r} is more than {slack:.0f} s from now")


CHECKS: dict[str, Callable[[socket.socket], None]] = {
    "echo": check_echo, "discard": check_discard, "chargen": check_chargen, "daytime": check_daytime,
}


def check(ns: str, ip: str, name: str, port: int, timeout: float = 2.0) -> None:
    """One connection from ``ns`` to service ``name`` at ``ip:port``, checked against its model."""
    with connect(ns, ip, port, timeout) as s:
        CHECKS[name](s)
