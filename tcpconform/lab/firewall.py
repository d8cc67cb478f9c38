"""Kernel RST suppression for host mode.

When the tester sends from an address the host kernel owns (a plain ``--iface eth1``), the target's
SYN-ACK reaches that kernel too.  It knows no such connection, so it answers with an RST that tears
the target's half of the connection down before the tester has said a word.  The lab avoids this
by giving the tester side no address; on a real interface the kernel's RSTs must be dropped
instead.

:class:`RstSuppression` drops them as narrowly as it can: one nftables table of its own (named
``tcpc_<pid>_<n>``, so :mod:`tcpconform.lab.leftovers` can find it after a ``kill -9``), one output
rule, matching only TCP segments with RST set, to the target's address and port, from the run's
source ports.  Everything else the host sends is untouched.  The table is removed on every exit
path: leaving the ``with`` block, an exception, SIGINT, SIGTERM, interpreter exit.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType

from tcpconform.errors import SetupError
from tcpconform.lab.guard import on_exit
from tcpconform.lab.netns import ns_argv

_counter = itertools.count(1)


class FirewallError(SetupError):
    """nftables is missing, refused us, or rejected the ruleset; the message says what to do."""


def _nothing() -> None:
    """The guard's cancel before any guard is registered."""


def _port_set(ports: Iterable[int]) -> str:
    """``ports`` as an nft set: runs of consecutive ports become ranges, so a 1000-port range stays one element."""
    values = sorted(set(ports))
    if not values:
        raise ValueError("source_ports is empty: the rule would match nothing")
    bad = [p for p in values if not 1 <= p <= 65535]
    if bad:
        raise ValueError(f"source ports out of range 1..65535: {bad[:5]}")
    runs: list[tuple[int, int]] = []
    for p in values:
        if runs and p == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], p)
        else:
            runs.append((p, p))
    return "{ " + ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in runs) + " }"


def _nft_argv(args: list[str], ns: str | None) -> list[str]:
    if shutil.which("nft") is None:
        raise FirewallError("`nft` not found: RST suppression needs nftables (install the `nftables` package)")
    return ns_argv(ns, ["nft", *args]) if ns else ["nft", *args]


def _check(args: list[str], ns: str | None, returncode: int, stderr: str) -> None:
    """Turn a failed ``nft`` into a :class:`FirewallError` that says what to do."""
    if returncode == 0:
        return
    err = stderr.strip()
    if "Operation not permitted" in err or "Permission denied" in err:
        raise FirewallError(f"nft refused ({err.splitlines()[-1] if err else 'EPERM'}): "
                            "installing a firewall table needs root or CAP_NET_ADMIN")
    raise FirewallError(f"nft {' '.join(args)}{f' in {ns}' if ns else ''} failed: {err or returncode}")


def run_nft(args: list[str], ns: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``nft`` (in namespace ``ns`` if given); failures become :class:`FirewallError` saying what to do."""
    proc = subprocess.run(_nft_argv(args, ns), capture_output=True, text=True, timeout=30)
    _check(args, ns, proc.returncode, proc.stderr)
    return proc


def _running(pid: int) -> bool:
    """``pid`` still runs (a zombie does not), read without reaping it from under its Popen."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class RstSuppression:
    """Drop the kernel's RSTs to ``target_ip:target_port`` from ``source_ports`` while the block runs.

    ``ns`` installs the table inside that (tcpc) namespace instead of the host's.  Entering installs
    the table before the caller sends its first segment; the removal is registered first, so a
    signal arriving half-way still removes it.  :meth:`remove` is idempotent and may be called from
    anywhere, any number of times.
    """

    def __init__(self, target_ip: str, target_port: int | Sequence[int], source_ports: range | list[int],
                 ns: str | None = None) -> None:
        addr = ipaddress.ip_address(target_ip)
        ports = [target_port] if isinstance(target_port, int) else list(target_port)
        if not ports or not all(1 <= p <= 65535 for p in ports):
            raise ValueError(f"target_port {target_port} out of range 1..65535")
        self.target_ip = str(addr)
        self.target_port = target_port
        self.source_ports = source_ports
        self.ns = ns
        self.family = "inet"
        self.table = f"tcpc_{os.getpid()}_{next(_counter)}"
        dports = str(ports[0]) if len(ports) == 1 else _port_set(ports)
        self._match = (f"{'ip' if addr.version == 4 else 'ip6'} daddr {self.target_ip} tcp dport {dports} "
                       f"tcp sport {_port_set(source_ports)} tcp flags & rst == rst")
        self._lock = threading.RLock()  # re-entrant: the signal handler may call remove() mid-install
        self._state = "new"  # new -> installing -> installed -> removed
        self._cancel_guard: Callable[[], None] = _nothing
        self._installer: int | None = None  # pid of the `nft -f` still running, if any

    def ruleset(self) -> str:
        """The nft script that installs the table.

        The ``add``/``delete`` pair first empties a table of the same name a dead process with a
        reused pid may have left, in the same atomic transaction.
        """
        return (
            f"add table {self.family} {self.table}\n"
            f"delete table {self.family} {self.table}\n"
            f"table {self.family} {self.table} {{\n"
            f"  chain output {{\n"
            f"    type filter hook output priority 0; policy accept;\n"
            f"    {self._match} counter drop comment \"tcpconform: the kernel's RSTs to a tested connection\"\n"
            f"  }}\n"
            f"}}\n"
        )

    @property
    def installed(self) -> bool:
        return self._state == "installed"

    def install(self) -> None:
        """Install the table (what ``with`` does on entry)."""
        with self._lock:
            if self._state != "new":
                raise FirewallError(f"table {self.table} was already installed once; make a new RstSuppression")
            self._state = "installing"
        self._cancel_guard = on_exit(self.remove, f"nft table {self.family} {self.table}")
        args = ["-f", "-"]
        try:
            proc = subprocess.Popen(_nft_argv(args, self.ns), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            self._installer = proc.pid  # kept if interrupted, so remove() waits for it
            _, err = proc.communicate(self.ruleset(), timeout=30)
            self._installer = None
            _check(args, self.ns, proc.returncode, err)
        except BaseException:
            self.remove()
            raise
        with self._lock:
            if self._state == "installing":
                self._state = "installed"

    def remove(self) -> bool:
        """Delete the table if it may exist; True if it did.  Never raises for a table already gone."""
        with self._lock:
            if self._state in ("new", "removed"):
                return False
            self._state = "removed"
            installer = self._installer
        # A signal that lands while `nft -f` runs must not delete before it commits and so miss the table.
        deadline = time.monotonic() + 5
        while installer is not None and _running(installer) and time.monotonic() < deadline:
            time.sleep(0.005)
        try:
            run_nft(["delete", "table", self.family, self.table], self.ns)
            return True
        except FirewallError as e:
            if "No such file or directory" in str(e) or "does not exist" in str(e):
                return False
            raise
        finally:
            self._cancel_guard()

    def dropped(self) -> int:
        """How many RSTs the rule has dropped so far (its counter)."""
        out = run_nft(["-j", "list", "table", self.family, self.table], self.ns).stdout
        total = 0
        for item in json.loads(out).get("nftables", []):
            for expr in item.get("rule", {}).get("expr", []):
                if "counter" in expr:
                    total += expr["counter"]["packets"]
        return total

    def __enter__(self) -> RstSuppression:
        self.install()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.remove()

    def __repr__(self) -> str:
        where = f" in {self.ns}" if self.ns else ""
        return f"RstSuppression({self.family} {self.table}{where}: {self._match}, {self._state})"
