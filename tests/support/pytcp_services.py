"""PyTCP (PyPI ``pytcp``) serving echo, discard, chargen and daytime on a TAP device of its own.

PyTCP is a TCP/IP stack in user space: it opens ``/dev/net/tun``, creates a TAP interface in the
network namespace it runs in, and reads and writes Ethernet frames on it from its own threads.
Run it inside the namespace the TAP belongs in::

    python3 tests/support/pytcp_services.py TAP MAC IP/LEN [BRIDGE]

It creates ``TAP``, brings it up (into ``BRIDGE`` when given), starts the stack with ``IP/LEN`` on
``MAC`` (IPv4 only: no SLAAC, no DHCP) and serves the four services of :mod:`services` on their
standard ports, with the same behaviours, every connection on a thread of its own.  "ready" on
stdout says all four listen; the TAP goes away with the process.

PyTCP's socket API is ``send``/``recv``/``close`` only; ``send`` appends to the session's TX buffer
and never blocks, so a writer that never stops (chargen) would grow that buffer without bound.
Chargen therefore waits while more than :data:`CHARGEN_BACKLOG` bytes are queued and not yet
acknowledged (the length of the session's TX buffer, which PyTCP trims as ACKs arrive: a private
attribute of the pinned PyTCP 2.7.6, read only).  ``send`` fails once the session has left
ESTABLISHED and CLOSE_WAIT (the peer reset, or the connection timed out), and chargen then closes.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from typing import Any

from services import CHARGEN_CYCLE, SERVICES, daytime_line

CHARGEN_BACKLOG = 64 * 1024
"""Bytes chargen lets sit unacknowledged in PyTCP's TX buffer before it waits for ACKs."""


def _queued(conn: Any) -> int:
    session = conn.tcp_session
    return len(session._tx_buffer) if session is not None else 0


def _echo(conn: Any) -> None:
    while data := conn.recv():
        conn.send(data)


def _discard(conn: Any) -> None:
    while conn.recv():
        pass


def _chargen(conn: Any) -> None:
    while True:
        while _queued(conn) > CHARGEN_BACKLOG:
            conn.send(b"")  # queues nothing; fails once the session is gone (a reset may leave the buffer full)
            time.sleep(0.005)
        conn.send(CHARGEN_CYCLE)


def _daytime(conn: Any) -> None:
    conn.send(daytime_line())


HANDLERS = {"echo": _echo, "discard": _discard, "chargen": _chargen, "daytime": _daytime}


def _serve(name: str, conn: Any) -> None:
    with contextlib.suppress(Exception):  # a reset connection ends its thread, not the service
        HANDLERS[name](conn)
    with contextlib.suppress(Exception):
        conn.close()


def _accept_loop(name: str, listener: Any) -> None:
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_serve, args=(name, conn), daemon=True).start()


def main(argv: list[str]) -> int:
    tap, mac, address = argv[0], argv[1], argv[2]
    bridge = argv[3] if len(argv) > 3 else None

    from pytcp import TcpIpStack, config
    from pytcp.lib import socket

    config.LOG_CHANEL = set()  # the stack logs every packet to the console by default
    stack = TcpIpStack(interface=tap, mac_address=mac, ip4_address=address)
    config.IP6_SUPPORT = False  # the constructor switches IPv6 (SLAAC, MLD, DAD) on whatever it is given
    up = ["ip", "link", "set", tap, "up"] + (["master", bridge] if bridge else [])
    subprocess.run(up, check=True)
    stack.start()

    threads = []
    for name, port in SERVICES.items():
        listener = socket.socket(family=socket.AF_INET4, type=socket.SOCK_STREAM)
        listener.bind((address.split("/")[0], port))
        listener.listen()
        threads.append(threading.Thread(target=_accept_loop, args=(name, listener), daemon=True))
    for t in threads:
        t.start()
    print("ready", flush=True)
    for t in threads:
        t.join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
