"""A scripted agent for the client's tests: a well-behaved in-memory agent, or one of the ways an
agent goes wrong, chosen on the command line (``python fake_agent.py MODE``)."""

from __future__ import annotations

import signal
import sys
import time
from typing import Any

from tcpconform.targets.agent.protocol import AppError, decode_line, encode_line, handle_line, make_event, serve_stdio
from tcpconform.tcp.segment import FourTuple


class MemoryAgent:
    """Connections from tester port 1 exist; every other one does not."""

    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []

    def hello(self) -> dict[str, Any]:
        return {"agent": "fake", "version": "0", "capabilities": ["app", "state"], "detail": "scripted"}

    def listen(self, port: int, ip: str | None) -> None:
        self.pending.append(make_event(time.time(), "app", f"application listen on {ip}:{port}", port=port))

    def _check(self, key: FourTuple) -> None:
        if key.sport != 1:
            raise AppError(f"no connection from {key.src}:{key.sport}")

    def read(self, key: FourTuple, count: int, timeout: float) -> bytes:
        self._check(key)
        return b"abc"[:count]

    def write(self, key: FourTuple, data: bytes) -> int:
        self._check(key)
        return len(data) - 1 if data.startswith(b"short") else len(data)

    def shutdown(self, key: FourTuple) -> None:
        self._check(key)

    def close(self, key: FourTuple) -> None:
        self._check(key)

    def state(self, key: FourTuple) -> str:
        new = "ESTABLISHED" if key.sport == 1 else "CLOSED"
        self.pending.append(make_event(time.time(), "state", f"-> {new}", key, new=new))
        return new

    def events(self) -> list[dict[str, Any]]:
        out, self.pending = self.pending, []
        return out

    def setsockopt(self, key_or_port: FourTuple | int, level: str, name: str, value: int) -> None:
        raise RuntimeError("setsockopt is not scripted")

    def forget(self, key: FourTuple) -> None:
        pass

    def reset(self) -> None:
        pass


def _answer_hello_then(after: str) -> None:
    agent = MemoryAgent()
    out, _ = handle_line(agent, sys.stdin.buffer.readline())
    sys.stdout.buffer.write(out)
    sys.stdout.buffer.flush()
    line = sys.stdin.buffer.readline()
    if after == "exit":
        print("fake agent: giving up on", decode_line(line).get("op"), file=sys.stderr, flush=True)
        sys.exit(3)
    if after == "garble":
        sys.stdout.buffer.write(b"this is not json\n")
        sys.stdout.buffer.flush()
    if after == "wrong-id":
        sys.stdout.buffer.write(encode_line({"id": 999, "ok": True}))
        sys.stdout.buffer.flush()
    print("fake agent: not answering", file=sys.stderr, flush=True)
    while sys.stdin.buffer.readline():  # mute, until the engine goes away
        pass


def main(mode: str) -> None:
    if mode == "serve":
        serve_stdio(MemoryAgent(), sys.stdin.buffer, sys.stdout.buffer)
    elif mode == "slow-read":  # a loaded machine: a read is answered after 50 ms; it reports the wait asked for
        class Slow(MemoryAgent):
            def read(self, key: FourTuple, count: int, timeout: float) -> bytes:
                time.sleep(0.05)
                return f"{timeout:g}".encode()[:count]

        serve_stdio(Slow(), sys.stdin.buffer, sys.stdout.buffer)
    elif mode == "no-hello":
        print("fake agent: cannot start: no such namespace", file=sys.stderr, flush=True)
        sys.exit(2)
    elif mode in ("exit", "garble", "wrong-id", "mute"):
        _answer_hello_then(mode)
    elif mode == "stubborn":  # ignores quit, end of input and SIGTERM: only SIGKILL ends it
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        agent = MemoryAgent()
        while line := sys.stdin.buffer.readline():
            out, _ = handle_line(agent, line)
            sys.stdout.buffer.write(out)
            sys.stdout.buffer.flush()
        time.sleep(60)
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv[1])
