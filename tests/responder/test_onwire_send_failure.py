"""The responder on a wire survives a segment the interface refuses: it says so and serves on."""

from __future__ import annotations

import io
import os
import signal
import socket
from collections import deque

import pytest

from tcpconform.links.base import Received, Sent
from tcpconform.targets.agent import responder as onwire
from tcpconform.tcp.segment import Flags, Segment


class RefusingEndpoint:
    """An endpoint whose kernel refuses every frame (as EMSGSIZE does for one over the MTU)."""

    def __init__(self, iface: str, ip: str, netns: str | None = None, icmp: bool = False,
                 also: str | None = None) -> None:
        self.sock, self._other = socket.socketpair()
        self._other.send(b"x")  # readable: the loop polls once
        self.mac = "02:00:00:00:00:03"
        self.pending: deque[Received] = deque()
        self.icmp_pending: deque[object] = deque()
        self.refused = 0

    def poll(self, timeout: float) -> bool:
        self.sock.recv(16)
        self.pending.append(Received(Segment("192.0.2.1", "192.0.2.3", 40000, 8000, seq=0, flags=Flags.SYN,
                                             window=5000), 0.0))
        return True

    def send(self, seg: Segment) -> Sent:
        self.refused += 1
        os.kill(os.getpid(), signal.SIGINT)  # stop serving after this
        raise OSError(90, "Message too long")

    def close(self) -> None:
        self.sock.close()
        self._other.close()


def test_a_refused_segment_is_reported_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[RefusingEndpoint] = []

    def endpoint(*args: object, **kwargs: object) -> RefusingEndpoint:
        made.append(RefusingEndpoint(*args, **kwargs))  # type: ignore[arg-type]
        return made[-1]

    monkeypatch.setattr(onwire, "RawEndpoint", endpoint)
    log = io.StringIO()
    assert onwire.serve("tcpc-x", "192.0.2.3", 8000, frozenset(), log=log) == 0
    assert made[0].refused >= 1
    assert "not sent: S. " in log.getvalue() and "Message too long" in log.getvalue()
