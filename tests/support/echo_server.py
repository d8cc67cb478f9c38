"""A TCP echo service (RFC 862) on the calling namespace's kernel: ``python3 echo_server.py IP PORT``.

Each connection is echoed until the peer closes, then closed: what an echo service does by itself.
"""

from __future__ import annotations

import socket
import sys
import threading


def _serve(conn: socket.socket) -> None:
    with conn:
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data)
        except OSError:  # a reset connection ends its thread, not the service
            return


def main(argv: list[str]) -> int:
    srv = socket.socket(socket.AF_INET6 if ":" in argv[0] else socket.AF_INET)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((argv[0], int(argv[1])))
    srv.listen(64)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=_serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
