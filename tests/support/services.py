"""The four classic TCP services on the calling namespace's kernel, each on its own port, on one IP.

``python3 services.py IP`` serves all four on their standard ports (:data:`SERVICES`);
``--only NAME`` (repeatable) serves a subset and ``--port NAME=PORT`` moves one.  Each connection
runs on a thread of its own, and a reset connection ends its thread, never the service.

- echo (RFC 862): everything read is written back until the peer's FIN, then the connection closes.
- discard (RFC 863): everything read is thrown away until the peer's FIN, then the connection closes.
- chargen (RFC 864), as BSD inetd's ``chargen_stream``: never reads; writes the rotating pattern
  (:data:`CHARGEN_CYCLE`) until a write fails (the peer reset), then closes.  It does not see the
  peer's FIN, so a half-closed peer keeps receiving.
- daytime (RFC 867): on accept, one line with the date and time (:func:`daytime_line`), then
  close, without reading.

The pattern and the line format are defined here so the PyTCP twin (``pytcp_services.py``) and the
clients that check the services all share them.
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from collections.abc import Callable

SERVICES: dict[str, int] = {"echo": 7, "discard": 9, "daytime": 13, "chargen": 19}
"""Service name -> its standard port."""

LINE = 72
"""Characters of a chargen line before its CR LF (RFC 864)."""

PRINTABLE = bytes(range(32, 127))
"""The 95 printable ASCII characters chargen rotates through."""

CHARGEN_CYCLE = b"".join(
    (PRINTABLE * 2)[i:i + LINE] + b"\r\n" for i in range(len(PRINTABLE))
)
"""One full period of the chargen stream: line ``i`` starts at ``PRINTABLE[i]``; after 95 lines it repeats."""

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


def daytime_line(now: float | None = None) -> bytes:
    """The daytime answer, in UTC, e.g. ``Tuesday, December 1, 2026 09:37:07-UTC\\r\\n`` (locale-free)."""
    t = time.gmtime(now)
    return (f"{_DAYS[t.tm_wday]}, {_MONTHS[t.tm_mon - 1]} {t.tm_mday}, {t.tm_year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}-UTC\r\n").encode()


def _echo(conn: socket.socket) -> None:
    while data := conn.recv(65536):
        conn.sendall(data)


def _discard(conn: socket.socket) -> None:
    while conn.recv(65536):
        pass


def _chargen(conn: socket.socket) -> None:
    while True:
        conn.sendall(CHARGEN_CYCLE)


def _daytime(conn: socket.socket) -> None:
    conn.sendall(daytime_line())


HANDLERS: dict[str, Callable[[socket.socket], None]] = {
    "echo": _echo, "discard": _discard, "chargen": _chargen, "daytime": _daytime,
}


def _serve(handler: Callable[[socket.socket], None], conn: socket.socket) -> None:
    with conn:
        try:
            handler(conn)
        except OSError:  # a reset connection ends its thread, not the service
            return


def _accept_loop(srv: socket.socket, handler: Callable[[socket.socket], None]) -> None:
    while True:
        try:
            conn, _ = srv.accept()
        except OSError:  # ECONNABORTED and friends: one lost connection, not the listener
            continue
        threading.Thread(target=_serve, args=(handler, conn), daemon=True).start()


def _listen(ip: str, port: int) -> socket.socket:
    srv = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((ip, port))
    srv.listen(64)
    return srv


def parse_args(argv: list[str]) -> tuple[str, dict[str, int]]:
    """``IP [--only NAME]... [--port NAME=PORT]...`` -> the IP and the services to serve, name -> port."""
    ap = argparse.ArgumentParser(prog="services.py", description="echo, discard, chargen and daytime on one IP")
    ap.add_argument("ip")
    ap.add_argument("--only", action="append", choices=list(SERVICES), help="serve only this service (repeatable)")
    ap.add_argument("--port", action="append", default=[], metavar="NAME=PORT", help="serve NAME on PORT")
    args = ap.parse_args(argv)
    ports = {name: port for name, port in SERVICES.items() if not args.only or name in args.only}
    for item in args.port:
        name, _, port = item.partition("=")
        if name not in ports or not port.isdigit():
            ap.error(f"--port {item}: expected NAME=PORT with NAME one of {', '.join(ports)}")
        ports[name] = int(port)
    return args.ip, ports


def main(argv: list[str]) -> int:
    ip, ports = parse_args(argv)
    listeners = [(_listen(ip, port), HANDLERS[name]) for name, port in ports.items()]
    threads = [threading.Thread(target=_accept_loop, args=pair, daemon=True) for pair in listeners]
    for t in threads:
        t.start()
    print("ready", flush=True)
    for t in threads:
        t.join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
