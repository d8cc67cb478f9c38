"""Agents served over UDP on loopback for the transport tests: start one, find its port, stop it;
a lossy relay between the engine and an agent; a free loopback port.  Loopback only: no namespace,
no raw socket."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

from tcpconform.targets.agent.client import agent_env


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def udp_agent(argv: list[str], timeout: float = 10.0) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``argv`` started (it serves UDP on port 0 and logs ``serving on udp IP:PORT``): the process and
    its port.  Stopped and reaped at the end, whatever happens."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=agent_env(), start_new_session=True)
    try:
        assert proc.stderr is not None
        deadline, said = time.monotonic() + timeout, b""
        port = None
        while port is None:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([proc.stderr], [], [], max(left, 0))
            if not ready:
                raise AssertionError(f"{argv[0]} did not say its port within {timeout} s: {said!r}")
            line = proc.stderr.readline()
            if not line:
                raise AssertionError(f"{argv[0]} exited before serving: {said!r}")
            said += line
            if b"serving on udp" in line:
                port = int(line.rsplit(b":", 1)[1])
        threading.Thread(target=_drain, args=(proc,), daemon=True).start()
        yield proc, port
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _drain(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stderr is not None
    with contextlib.suppress(OSError, ValueError):
        for _ in iter(proc.stderr.readline, b""):
            pass


class LossyRelay:
    """A UDP relay on loopback between one client and an agent at ``port``; ``drop(direction, data)``
    says which datagrams are lost (direction ``"request"`` or ``"answer"``).  Counts what passes."""

    def __init__(self, port: int, drop: Callable[[str, bytes], bool]) -> None:
        self.agent = ("127.0.0.1", port)
        self.drop = drop
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.upstream.connect(self.agent)
        self.client: tuple[str, int] | None = None
        self.seen: list[tuple[str, bytes, bool]] = []
        """Every datagram: its direction, its bytes, whether it was dropped."""
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            ready, _, _ = select.select([self.sock, self.upstream], [], [], 0.05)
            for s in ready:
                with contextlib.suppress(ConnectionRefusedError):
                    data, addr = s.recvfrom(65535)
                    if s is self.sock:
                        self.client = addr
                        dropped = self.drop("request", data)
                        self.seen.append(("request", data, dropped))
                        if not dropped:
                            self.upstream.send(data)
                    elif self.client is not None:
                        dropped = self.drop("answer", data)
                        self.seen.append(("answer", data, dropped))
                        if not dropped:
                            self.sock.sendto(data, self.client)

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2)
        self.sock.close()
        self.upstream.close()
