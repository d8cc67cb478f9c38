"""The agent tests' lab: two network namespaces joined by a veth pair, and a kernel client in one.

The veth pair is created directly inside the namespaces (nothing ever appears among the host's
interfaces): the tester side ``tcpc-agt-<token>-<n>-c`` at 198.18.200.1 and the target side
``tcpc-agt-<token>-<n>-t`` at 198.18.200.2, where the agent runs.  The test's kernel client is an
ordinary socket created inside the tester namespace (``setns`` around ``socket()``: the socket stays
there, the test process does not).
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

TOKEN = secrets.token_hex(3)
"""This session's mark in every name: the checks see only what this session made, so other work
on the same machine (other namespaces, other test runs) cannot make them fail or pass."""
NS_PREFIX = f"tcpc-agt-{TOKEN}"
LINK_PREFIX = f"tcpca{TOKEN}"
TESTER_IP, TARGET_IP = "198.18.200.1", "198.18.200.2"
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"
SPAWNED: list[int] = []
_libc = ctypes.CDLL(None, use_errno=True)


def run_ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=20)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip() or f'status {done.returncode}'}")
    return done


def netns_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if shutil.which("ip") is None:
        return "needs iproute2's ip"
    if run_ip("netns", "list", check=False).returncode != 0:
        return "ip netns is unavailable here"
    return None


def our_namespaces() -> list[str]:
    """This session's named namespaces, read where ``ip netns`` keeps them: ``ip netns list`` itself
    can stumble on a namespace someone else deletes while it lists."""
    try:
        return sorted(name for name in os.listdir(NETNS_DIR) if name.startswith(NS_PREFIX))
    except FileNotFoundError:
        return []


def our_host_links() -> list[str]:
    return [line for line in run_ip("-o", "link").stdout.splitlines() if LINK_PREFIX in line]


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextmanager
def inside(netns: str) -> Iterator[None]:
    """This thread inside ``netns`` for the block (sockets made there stay there)."""
    with open("/proc/thread-self/ns/net") as home, open(f"{NETNS_DIR}/{netns}") as there:
        _setns(there.fileno())
        try:
            yield
        finally:
            _setns(home.fileno())


@dataclass
class Lab:
    target_ns: str
    tester_ns: str
    tester_link: str
    sockets: list[socket.socket] = field(default_factory=list)

    def socket(self, kind: int = socket.SOCK_STREAM, proto: int = 0) -> socket.socket:
        """A socket of the tester namespace, closed with the lab."""
        with inside(self.tester_ns):
            sock = socket.socket(socket.AF_INET, kind, proto)
        self.sockets.append(sock)
        return sock

    def connect(self, port: int, tester_port: int = 0) -> socket.socket:
        sock = self.socket()
        sock.settimeout(5)
        sock.bind((TESTER_IP, tester_port))
        sock.connect((TARGET_IP, port))
        return sock

    def tester_link_up(self, up: bool) -> None:
        """Take the tester's end of the wire down (what the target sends is lost) or back up."""
        run_ip("-n", self.tester_ns, "link", "set", self.tester_link, "up" if up else "down")


def delete_namespaces(names: list[str]) -> None:
    for name in names:
        if name in our_namespaces():
            pids = run_ip("netns", "pids", name, check=False).stdout.split()
            for pid in pids:  # ours only: the namespace is this session's own
                with suppress(ProcessLookupError):
                    os.kill(int(pid), 9)
            run_ip("netns", "del", name, check=False)


def wait_for(get: Callable[[], str | None], wanted: str, timeout: float = 5.0) -> list[str]:
    """Poll ``get`` until it says ``wanted``; the distinct values seen on the way, in order."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if value is not None and (not seen or seen[-1] != value):
            seen.append(value)
        if value == wanted:
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"never reached {wanted} within {timeout} s; seen {' -> '.join(seen)}")
        time.sleep(0.01)
