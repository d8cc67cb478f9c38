"""Third-party TCP stacks serving echo, discard, chargen and daytime in network namespaces of their own.

:func:`stack_up` brings one up and yields a :class:`Stack`: the address and (echo) port to give ``run
--target/--port``, every service's port, and the interface and namespace the tester runs in
(``ns_argv(tester_ns, ...)``), for host-mode runs.  The services are those of :mod:`support.services`
(echo 7, discard 9, daytime 13, chargen 19); the stack is ready once each answers as its model says
(:mod:`support.service_checks`) from the tester's namespace.
The tester's address is its namespace kernel's (host mode: the run suppresses the kernel's RSTs).
Offloads are left at their defaults.  Every namespace is named ``<prefix><letter>-...`` and
everything under that prefix is removed on exit, on failure and on Ctrl-C/SIGTERM.

- ``slirp4netns`` (libslirp): a user-mode stack that *terminates* TCP arriving on the TAP it serves
  in the tester's namespace and re-originates it as socket calls in the namespace it runs in.  The
  tester talks to 10.0.2.2 (libslirp's alias for its own host's loopback, on any port); the services
  listen on 127.0.0.1 of the "host" namespace slirp4netns runs in (never the machine's own).
- ``pasta`` (passt): the same idea; it copies the template interface's address and gateway into the
  tester's namespace, and maps the gateway address to its host's loopback (any port).  The host namespace has
  a veth pair as its template interface (10.46.2.1/24, default route via 10.46.2.254); the tester
  talks to 10.46.2.254.  What the services write after the tester's FIN pasta relays wrongly (see
  :func:`support.service_checks.check_chargen`), so the readiness checks send no FIN before the answer is in.
- ``pytcp`` (PyPI ``pytcp``): a stack in Python on a TAP, bridged to a veth whose other end is the
  tester's; :mod:`support.pytcp_services` serves the four from it at 10.46.3.2.
- ``linux``: the kernel of a second namespace, joined by a veth, with :mod:`support.services`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from support.lab import worker_index
from support.service_checks import check
from support.services import SERVICES

HERE = Path(__file__).resolve().parent
SERVICES_PY = str(HERE / "services.py")
PYTCP_SERVICES = str(HERE / "pytcp_services.py")
PREFIX = os.environ.get("TCPC_TEST_STACK_PREFIX", f"tcpc{46 + 10 * worker_index()}")
"""Names of everything the fixtures create start with this (and then one letter per stack); each
pytest-xdist worker has its own."""

STACKS = ("slirp4netns", "pasta", "pytcp", "linux")
LETTER = {"slirp4netns": "s", "pasta": "a", "pytcp": "p", "linux": "k"}
PORT = SERVICES["echo"]


@dataclass(frozen=True)
class Stack:
    name: str
    target_ip: str
    port: int
    """The echo port (what ``run --port`` takes)."""
    iface: str
    tester_ns: str
    services: dict[str, int] = field(default_factory=lambda: dict(SERVICES), hash=False)
    """Service name -> its port at ``target_ip``."""


class StackError(RuntimeError):
    """The stack did not come up; the message says what was seen."""


def why_not(name: str) -> str | None:
    """Why stack ``name`` cannot be brought up here (None: it can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, TAP devices, raw sockets)"
    if shutil.which("ip") is None:
        return "needs iproute2 ('ip'): sh scripts/install-system-packages"
    need = {"slirp4netns": "slirp4netns", "pasta": "pasta"}.get(name)
    if need and shutil.which(need) is None:
        return f"needs {need}: sh scripts/install-system-packages"
    if name == "pytcp" and importlib.util.find_spec("pytcp") is None:
        return "needs PyTCP: python3 -m pip install -e '.[dev]' (or pip install pytcp)"
    if name in ("slirp4netns", "pasta", "pytcp") and not os.path.exists("/dev/net/tun"):
        return "needs /dev/net/tun (TAP devices)"
    return None


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise StackError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


def _ready(stack: Stack, timeout: float = 10.0) -> None:
    """Wait until every service answers through the stack, from the tester's namespace, as its model says.

    The first service waits for the stack to come up; each gets the whole ``timeout`` from the moment
    the previous one answered.
    """
    for name, port in stack.services.items():
        deadline = time.monotonic() + timeout
        last = "nothing tried"
        while time.monotonic() < deadline:
            try:
                check(stack.tester_ns, stack.target_ip, name, port)
                break
            except (OSError, AssertionError) as e:
                last = f"{type(e).__name__}: {e}"
            time.sleep(0.2)
        else:
            raise StackError(f"{name} at {stack.target_ip}:{port} did not answer as its model says "
                             f"from namespace {stack.tester_ns} after {timeout:.0f} s: {last}")


def _start(procs: list[subprocess.Popen[bytes]], ns: str, argv: list[str], log: Path) -> None:
    from tcpconform.lab.netns import ns_argv

    with open(log, "ab") as out:
        procs.append(subprocess.Popen(ns_argv(ns, argv), stdout=out, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL))


def _up_slirp4netns(p: str, procs: list[subprocess.Popen[bytes]], log: Path) -> Stack:
    host, tester, tap = f"{p}-h", f"{p}-t", f"{p}0"
    _ip("netns", "add", host)
    _ip("netns", "add", tester)
    _ip("-n", host, "link", "set", "lo", "up")
    _start(procs, host, [sys.executable, SERVICES_PY, "127.0.0.1"], log)
    _start(procs, host, ["slirp4netns", "--configure", "--netns-type=path", f"/var/run/netns/{tester}", tap], log)
    return Stack("slirp4netns", "10.0.2.2", PORT, tap, tester)


def _up_pasta(p: str, procs: list[subprocess.Popen[bytes]], log: Path) -> Stack:
    host, tester, tap = f"{p}-h", f"{p}-t", f"{p}0"
    _ip("netns", "add", host)
    _ip("netns", "add", tester)
    _ip("-n", host, "link", "set", "lo", "up")
    # pasta copies a template interface's address, MAC and gateway: a veth pair that leads nowhere.
    _ip("-n", host, "link", "add", f"{p}-d", "type", "veth", "peer", "name", f"{p}-e")
    _ip("-n", host, "addr", "add", "10.46.2.1/24", "dev", f"{p}-d")
    _ip("-n", host, "link", "set", f"{p}-d", "up")
    _ip("-n", host, "link", "set", f"{p}-e", "up")
    _ip("-n", host, "route", "add", "default", "via", "10.46.2.254")
    _start(procs, host, [sys.executable, SERVICES_PY, "127.0.0.1"], log)
    # --runas 0: as root pasta otherwise drops to nobody, who may not enter the named namespace.
    _start(procs, host, ["pasta", "-f", "-q", "-4", "--runas", "0:0", "--netns-only", "--config-net",
                         "-I", tap, "-t", "none", "-u", "none", "-T", "none", "-U", "none",
                         "--netns", f"/var/run/netns/{tester}"], log)
    return Stack("pasta", "10.46.2.254", PORT, tap, tester)


def _veth_pair(p: str, stack_ns: str, tester: str, tester_ip: str) -> None:
    _ip("netns", "add", stack_ns)
    _ip("netns", "add", tester)
    _ip("-n", stack_ns, "link", "set", "lo", "up")
    _ip("-n", stack_ns, "link", "add", f"{p}-s", "type", "veth", "peer", "name", f"{p}-t", "netns", tester)
    _ip("-n", tester, "addr", "add", tester_ip, "dev", f"{p}-t")
    _ip("-n", tester, "link", "set", f"{p}-t", "up")


def _up_pytcp(p: str, procs: list[subprocess.Popen[bytes]], log: Path) -> Stack:
    stack_ns, tester = f"{p}-s", f"{p}-t"
    _veth_pair(p, stack_ns, tester, "10.46.3.1/24")
    _ip("-n", stack_ns, "link", "add", f"{p}-br", "type", "bridge")
    _ip("-n", stack_ns, "link", "set", f"{p}-br", "up")
    _ip("-n", stack_ns, "link", "set", f"{p}-s", "master", f"{p}-br", "up")
    # PyTCP is a stack in Python: ahead of the tester and the suite in the CPU queue (nice -10), so that its
    # timers (a 100 ms delayed ACK) are its own, not the loaded machine's
    _start(procs, stack_ns, ["nice", "-n", "-10", sys.executable, PYTCP_SERVICES, f"{p}0", "02:00:00:46:03:02",
                             "10.46.3.2/24", f"{p}-br"], log)
    return Stack("pytcp", "10.46.3.2", PORT, f"{p}-t", tester)


def _up_linux(p: str, procs: list[subprocess.Popen[bytes]], log: Path) -> Stack:
    stack_ns, tester = f"{p}-s", f"{p}-t"
    _veth_pair(p, stack_ns, tester, "10.46.4.1/24")
    _ip("-n", stack_ns, "addr", "add", "10.46.4.2/24", "dev", f"{p}-s")
    _ip("-n", stack_ns, "link", "set", f"{p}-s", "up")
    _start(procs, stack_ns, [sys.executable, SERVICES_PY, "10.46.4.2"], log)
    return Stack("linux", "10.46.4.2", PORT, f"{p}-t", tester)


_UP = {"slirp4netns": _up_slirp4netns, "pasta": _up_pasta, "pytcp": _up_pytcp, "linux": _up_linux}


@contextlib.contextmanager
def stack_up(name: str, log_dir: Path, prefix: str = PREFIX) -> Iterator[Stack]:
    """Stack ``name`` serving the four services, until the block ends; its processes' output goes to ``log_dir``."""
    from tcpconform.lab.guard import on_exit
    from tcpconform.lab.leftovers import cleanup

    p = prefix + LETTER[name]
    log = Path(log_dir) / f"{name}.log"
    procs: list[subprocess.Popen[bytes]] = []

    def down() -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        cleanup(prefixes=[p])

    cleanup(prefixes=[p])  # what a killed run of these fixtures left
    cancel = on_exit(down, f"stack {name} ({p}*)")
    try:
        stack = _UP[name](p, procs, log)
        try:
            _ready(stack)
        except StackError as e:
            dead = [f"{proc.args!r} exited {proc.returncode}" for proc in procs
                    if proc.poll() is not None]
            raise StackError(f"{name}: {e}; {'; '.join(dead) or 'all its processes run'}; "
                             f"their output: {log.read_text(errors='replace')[-2000:]!r}") from None
        yield stack
    finally:
        down()
        cancel()
