"""Leaving nothing behind: what the project creates, how it is guarded, and how a killed run is cleaned up.

Everything the project creates carries the ``tcpc`` prefix: network namespaces, links, nftables
tables, and the processes it starts inside its namespaces.  This module is the layer that knows
those objects by name (the lab and the firewall build on it) and it never looks at or touches
anything without the prefix.

:func:`on_exit` is how the lab and the firewall make sure what they create is removed on every way
out of a live process: normal exit, an exception, Ctrl-C (SIGINT), SIGTERM.  A ``kill -9`` cannot
be guarded against; :func:`leftovers` finds what such a run left and :func:`cleanup` removes it.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

PREFIX = "tcpc"
NETNS_DIR = "/var/run/netns"  # where `ip netns` and pyroute2 keep named namespaces
MNT_DETACH = 2
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd: int) -> None:
    """Move the calling thread into the network namespace open as ``fd`` (setns(2) is per thread)."""
    if hasattr(os, "setns"):  # Python 3.12+
        os.setns(fd, CLONE_NEWNET)
    elif _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def thread_netns() -> int:
    """A new fd on the calling thread's network namespace (``/proc/self`` would name the main thread's)."""
    return os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)


def check_name(name: str, what: str = "network namespace") -> None:
    """Refuse any name without the project's prefix: the project touches nothing else."""
    if not name.startswith(PREFIX) or "/" in name:
        raise ValueError(f"{what} {name!r}: tcpconform only works with its own ({PREFIX}*)")


def ns_path(ns: str) -> str:
    """The file that names namespace ``ns`` (bind-mounted nsfs, as ``ip netns add`` makes it)."""
    check_name(ns)
    return os.path.join(NETNS_DIR, ns)


def _ns_exec(ns: str | None, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv] if ns else argv


# --- namespaces, processes, links ---------------------------------------------------------------

def list_namespaces() -> list[str]:
    """Named network namespaces with the project's prefix, sorted."""
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(PREFIX))


def ns_exists(ns: str) -> bool:
    """``ns`` is a live namespace: its file exists *and* is an nsfs mount (a crash can leave a bare file)."""
    try:
        return os.stat(ns_path(ns)).st_dev == os.stat("/proc/self/ns/net").st_dev
    except FileNotFoundError:
        return False


def ns_remove(ns: str) -> bool:
    """Unmount and unlink namespace ``ns``'s file; the namespace dies with its last user.  True if it was there."""
    path = ns_path(ns)
    if not os.path.lexists(path):
        return False
    _libc.umount2(path.encode(), MNT_DETACH)  # a bare file (crashed creation) is not mounted: ignore the error
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return True


def ns_pids(ns: str) -> list[int]:
    """Processes whose network namespace is ``ns`` (``ip netns pids``), this process excluded."""
    try:
        st = os.stat(ns_path(ns))
    except FileNotFoundError:
        return []
    me = os.getpid()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            pst = os.stat(f"/proc/{entry}/ns/net")
        except OSError:  # gone, a zombie, or a kernel thread
            continue
        if (pst.st_dev, pst.st_ino) == (st.st_dev, st.st_ino):
            pids.append(int(entry))
    return sorted(pids)


def process_line(pid: int) -> str:
    """``"pid command line"`` for reports."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        cmd = "?"
    return f"{pid} {cmd}"


def stop_processes(ns: str, grace: float = 1.0) -> list[str]:
    """SIGTERM every process inside ``ns``, SIGKILL what is left after ``grace`` s; returns what it stopped.

    A process left inside keeps the namespace (and its veth) alive after the name is gone.
    """
    found = {pid: process_line(pid) for pid in ns_pids(ns)}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in ns_pids(ns):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while ns_pids(ns) and time.monotonic() < deadline:
            time.sleep(0.01)
        if not ns_pids(ns):
            break
    return list(found.values())


def if_present(ifname: str) -> bool:
    """Interface ``ifname`` exists in the calling thread's namespace."""
    try:
        socket.if_nametoindex(ifname)
        return True
    except OSError:
        return False


def root_links() -> list[str]:
    """Links with the project's prefix in the host namespace: a veth end that never made it into the lab."""
    return sorted(name for _, name in socket.if_nameindex() if name.startswith(PREFIX))


def delete_root_link(ifname: str) -> bool:
    """Delete a ``tcpc`` link from the host namespace; True if it was there."""
    check_name(ifname, "link")
    if not if_present(ifname):
        return False
    with contextlib.suppress(FileNotFoundError):
        subprocess.run(["ip", "link", "del", "dev", ifname], capture_output=True, check=False)
    return not if_present(ifname)


# --- exit and signal guards ---------------------------------------------------------------------

_guard_lock = threading.RLock()
_actions: dict[int, tuple[str, Callable[[], object], int]] = {}
_owner = os.getpid()  # a forked child inherits the registry and atexit, but not what they guard
_keys = itertools.count(1)
_previous: dict[int, Any] = {}
_atexit_registered = False
GUARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def on_exit(action: Callable[[], object], label: str) -> Callable[[], None]:
    """Run ``action`` at interpreter exit or on SIGINT/SIGTERM, unless the returned *cancel* is called first.

    ``action`` must be idempotent: the code that registered it normally runs it itself and then
    cancels, and a signal can arrive in between.  Actions run newest first and their errors are
    swallowed (one failed removal must not stop the others).  Each runs in the network namespace
    its registering thread was in: a signal is handled on the main thread wherever that thread is,
    possibly inside :func:`tcpconform.lab.in_netns`.  Signal handlers are installed only
    while some action is registered, and only from the main thread (the only one Python lets
    install them); a registration from another thread is covered at exit only.

    On a signal the handler runs every action, puts the previous handlers back and then does what
    the signal would have done: SIGINT raises KeyboardInterrupt (so ``finally`` blocks still run),
    SIGTERM with the default disposition is re-raised and ends the process as it would have.
    """
    global _atexit_registered
    with _guard_lock:
        _forget_if_forked()
        key = next(_keys)
        _actions[key] = (label, action, thread_netns())
        if not _atexit_registered:
            atexit.register(run_exit_actions)
            _atexit_registered = True
        if threading.current_thread() is threading.main_thread():
            for sig in GUARDED_SIGNALS:
                current = signal.getsignal(sig)
                # An ignored signal (nohup, a background job of a script) stays ignored: it will not
                # end the process, so it must not remove what the process is still using.
                if sig not in _previous and current is not signal.SIG_IGN:
                    _previous[sig] = current
                    signal.signal(sig, _on_signal)

    def cancel() -> None:
        with _guard_lock:
            entry = _actions.pop(key, None)
            if entry is not None:
                os.close(entry[2])
            if not _actions:
                _restore_handlers()

    return cancel


def pending_exit_actions() -> list[str]:
    """Labels of the actions currently registered (for diagnostics and tests)."""
    with _guard_lock:
        return [label for label, _, _ in _actions.values()]


def run_exit_actions() -> list[str]:
    """Run and forget every registered action, newest first; returns the labels of those that failed."""
    with _guard_lock:
        _forget_if_forked()
        todo = sorted(_actions.items(), reverse=True)
        _actions.clear()
    failed = []
    for _, (label, action, netns_fd) in todo:
        try:
            _run_in(netns_fd, action)
        except Exception:
            failed.append(label)
        finally:
            os.close(netns_fd)
    return failed


def _forget_if_forked() -> None:
    """In a forked child, drop the parent's actions: its exit must not remove the parent's lab."""
    global _owner
    if os.getpid() != _owner:
        for _, _, fd in _actions.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        _actions.clear()
        _owner = os.getpid()


def _run_in(netns_fd: int, action: Callable[[], object]) -> None:
    here = thread_netns()
    try:
        moved = os.fstat(here).st_ino != os.fstat(netns_fd).st_ino
        if moved:
            setns(netns_fd)
        try:
            action()
        finally:
            if moved:
                setns(here)
    finally:
        os.close(here)


def _restore_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # the next cancel or the signal itself, on the main thread, puts them back
    for sig, previous in list(_previous.items()):
        if signal.getsignal(sig) is _on_signal:  # someone installed theirs after ours: leave it
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        del _previous[sig]


def _on_signal(signum: int, frame: FrameType | None) -> None:
    with _guard_lock:
        previous = _previous.get(signum, signal.SIG_DFL)
    run_exit_actions()
    with _guard_lock:
        _restore_handlers()
    if callable(previous):
        previous(signum, frame)  # SIGINT's default_int_handler raises KeyboardInterrupt here
    else:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


# --- finding and removing leftovers -------------------------------------------------------------


def _matches(name: str, prefixes: tuple[str, ...]) -> bool:
    return name.startswith(prefixes)


def _prefixes(prefixes: Iterable[str] | None) -> tuple[str, ...]:
    """The name prefixes to consider; each must itself start with ``tcpc`` so nothing else is ever touched."""
    if prefixes is None:
        return (PREFIX,)
    out = tuple(prefixes)
    bad = [p for p in out if not p.startswith(PREFIX)]
    if bad or not out:
        raise ValueError(f"prefixes must start with {PREFIX!r}: {bad or out}")
    return out


def _nft_tables(ns: str | None) -> list[tuple[str, str]]:
    """``(family, name)`` of every nftables table with the prefix, in the host namespace or in ``ns``."""
    if shutil.which("nft") is None:
        return []
    argv = ["nft", "-j", "list", "tables"]
    try:
        proc = subprocess.run(_ns_exec(ns, argv), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if proc.returncode != 0:
        return []
    try:
        items = json.loads(proc.stdout).get("nftables", [])
    except ValueError:
        return []
    return sorted((t["table"]["family"], t["table"]["name"]) for t in items
                  if "table" in t and t["table"]["name"].startswith(PREFIX))


def _delete_nft_table(ns: str | None, family: str, name: str) -> bool:
    argv = ["nft", "delete", "table", family, name]
    proc = subprocess.run(_ns_exec(ns, argv), capture_output=True, text=True, check=False)
    return proc.returncode == 0


def leftovers(*, prefixes: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Everything of the project's that exists now, by kind.

    ``namespaces``: ``tcpc*`` network namespaces.  ``links``: ``tcpc*`` links in the host namespace.
    ``nft_tables``: ``tcpc*`` tables, ``"family name"`` in the host namespace and
    ``"ns: family name"`` inside a tcpc namespace.  ``processes``: ``"pid command line"`` of every
    process inside a tcpc namespace (only the project creates those, so only it starts them).

    ``prefixes`` narrows the search to names starting with one of them (each starting with
    ``tcpc``): a namespace or link by its name, a host table by its name; inside a matching
    namespace, every tcpc table and process.  Namespaces that do not match are not looked into:
    tests use this to see only what they created while other runs use other labs.
    """
    pre = _prefixes(prefixes)
    namespaces = [ns for ns in list_namespaces() if _matches(ns, pre)]
    tables = [f"{fam} {name}" for fam, name in _nft_tables(None) if _matches(name, pre)]
    processes = []
    for ns in namespaces:
        if ns_exists(ns):
            tables += [f"{ns}: {fam} {name}" for fam, name in _nft_tables(ns)]
            processes += [f"{process_line(pid)}  [{ns}]" for pid in ns_pids(ns)]
    return {
        "namespaces": namespaces,
        "links": [ifname for ifname in root_links() if _matches(ifname, pre)],
        "nft_tables": tables,
        "processes": processes,
    }


def cleanup(*, prefixes: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Remove what :func:`leftovers` finds; returns what was removed, in the same shape.

    Order matters: processes first (they pin namespaces), then firewall tables (a table in the host
    namespace outlives everything else), then links, then namespaces.  Safe to run twice and while
    nothing is left.  ``prefixes`` narrows it as for :func:`leftovers`; without it, *every* tcpc
    lab goes, including one another run is using.
    """
    pre = _prefixes(prefixes)
    removed: dict[str, list[str]] = {"namespaces": [], "links": [], "nft_tables": [], "processes": []}
    mine = [ns for ns in list_namespaces() if _matches(ns, pre)]
    for ns in mine:
        if ns_exists(ns):
            removed["processes"] += [f"{line}  [{ns}]" for line in stop_processes(ns)]
    for fam, name in _nft_tables(None):
        if _matches(name, pre) and _delete_nft_table(None, fam, name):
            removed["nft_tables"].append(f"{fam} {name}")
    for ns in mine:
        if ns_exists(ns):
            for fam, name in _nft_tables(ns):
                if _delete_nft_table(ns, fam, name):
                    removed["nft_tables"].append(f"{ns}: {fam} {name}")
    for ifname in root_links():
        if _matches(ifname, pre) and delete_root_link(ifname):
            removed["links"].append(ifname)
    for ns in mine:
        if ns_exists(ns):
            # The veth ends first: a namespace pinned by some open socket would otherwise keep them.
            for ifname in _links_in(ns):
                subprocess.run(["ip", "-n", ns, "link", "del", "dev", ifname], capture_output=True, check=False)
        if ns_remove(ns):
            removed["namespaces"].append(ns)
    return removed


def _links_in(ns: str) -> list[str]:
    proc = subprocess.run(["ip", "-n", ns, "-o", "link", "show"], capture_output=True, text=True, check=False)
    names = []
    for line in proc.stdout.splitlines():
        m = re.match(r"\d+:\s+([^:@\s]+)", line)
        if m and m.group(1).startswith(PREFIX):
            names.append(m.group(1))
    return names


def format_report(report: dict[str, list[str]]) -> str:
    """One line per item, grouped by kind; ``nothing`` when empty."""
    lines = [f"{kind}: {item}" for kind, items in report.items() for item in items]
    return "\n".join(lines) if lines else "nothing"

