"""PyTCP (PyPI ``pytcp``) serving TCP echo (RFC 862) on a TAP device of its own.

PyTCP is a TCP/IP stack in user space: it opens ``/dev/net/tun``, creates a TAP interface in the
network namespace it runs in, and reads and writes Ethernet frames on it from its own threads.
Run it inside the namespace the TAP belongs in::

    python3 tests/support/pytcp_echo.py TAP MAC IP/LEN PORT [BRIDGE]

It creates ``TAP``, brings it up (into ``BRIDGE`` when given), starts the stack with ``IP/LEN`` on
``MAC`` (IPv4 only: no SLAAC, no DHCP), listens on ``PORT`` and echoes every connection until the
peer closes.  "ready" on stdout says it is listening; the TAP goes away with the process.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading


def _serve(conn) -> None:  # type: ignore[no-untyped-def]
    with contextlib.suppress(Exception):  # a reset connection ends its thread, not the service
        while True:
            data = conn.recv()
            if not data:
                break
            conn.send(data)
    with contextlib.suppress(Exception):
        conn.close()


def main(argv: list[str]) -> int:
    tap, mac, address, port = argv[0], argv[1], argv[2], int(argv[3])
    bridge = argv[4] if len(argv) > 4 else None

    from pytcp import TcpIpStack, config
    from pytcp.lib import socket

    config.LOG_CHANEL = set()  # the stack logs every packet to the console by default
    stack = TcpIpStack(interface=tap, mac_address=mac, ip4_address=address)
    config.IP6_SUPPORT = False  # the constructor switches IPv6 (SLAAC, MLD, DAD) on whatever it is given
    up = ["ip", "link", "set", tap, "up"] + (["master", bridge] if bridge else [])
    subprocess.run(up, check=True)
    stack.start()

    listener = socket.socket(family=socket.AF_INET4, type=socket.SOCK_STREAM)
    listener.bind((address.split("/")[0], port))
    listener.listen()
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
