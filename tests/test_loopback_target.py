"""A target the host routes to itself (127.0.0.1, ::1, any of its own addresses) is refused at once.

Frames a raw socket injects on ``lo`` are not a trustworthy exchange: over IPv4 the kernel drops
them (a 127/8 destination arriving on lo is a martian without ``route_localnet``), over IPv6 the
tester reads its own frames back and the kernel's segments carry checksums left to offload.  So the
run stops before anything is sent or installed, with exit code 2, one line, and what to do instead.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["127.0.0.1", "::1"])
def local_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    """A listening TCP socket on a loopback address, closed when the test ends."""
    address = str(request.param)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        server = socket.socket(family, socket.SOCK_STREAM)
        server.bind((address, 0))
    except OSError:
        pytest.skip(f"no {address} on this host")
    server.listen(4)
    with server:
        yield address, server.getsockname()[1]


def test_a_loopback_target_is_refused_with_the_reason_and_what_to_do(local_server: tuple[str, int],
                                                                     tmp_path: Path) -> None:
    address, port = local_server
    done = subprocess.run([sys.executable, "-m", "tcpconform.cli", "run", "seed-handshake", "--target", address,
                           "--port", str(port), "--report-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"{address} is reached through the loopback interface" in lines[0]
    assert "--lab linux" in lines[0] and "veth" in lines[0]
    assert "nothing arrived" not in done.stdout
    assert not (tmp_path / "results.json").exists()  # refused before the run: no verdicts at all


def test_the_refusal_comes_from_the_route_before_any_socket_or_rule() -> None:
    from tcpconform.links.host import InterfaceError, route

    with pytest.raises(InterfaceError, match="loopback interface lo"):
        route("127.0.0.1", None)
    with pytest.raises(InterfaceError, match="loopback interface lo"):
        route("198.18.0.2", "lo")  # an explicit --iface lo too
