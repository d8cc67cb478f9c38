"""An application that keeps connecting to HOST PORT: a device that connects out by itself, on Linux.

``python -m tcpconform.targets.connectloop HOST PORT [PAUSE]`` runs in the lab's target namespace
for ``tcpconform run --lab linux --listen PORT``: it connects (the kernel picks the local port),
holds the connection until the peer ends it (a RST, or a FIN it answers by closing), and
``PAUSE`` seconds (default 0.2) after a connection is over or a connect failed, connects again.  It
writes nothing, so the connection carries only what the case's steps bring about; it reads what
arrives, so a FIN is seen.  It stops on SIGTERM.
"""

from __future__ import annotations

import signal
import socket
import sys
import time
from types import FrameType

CONNECT_TIMEOUT = 300.0
"""Longer than Linux's own SYN give-up (about 130 s): the kernel, not this loop, ends a connect."""


def loop(host: str, port: int, pause: float) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    while True:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(CONNECT_TIMEOUT)
            sock.connect((host, port))
            sock.settimeout(None)
            while sock.recv(65536):
                pass
        except OSError:
            pass
        finally:
            sock.close()
        time.sleep(pause)


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: python -m tcpconform.targets.connectloop HOST PORT [PAUSE]", file=sys.stderr)
        return 2

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    loop(argv[0], int(argv[1]), float(argv[2]) if len(argv) == 3 else 0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
