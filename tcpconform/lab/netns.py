"""Network namespaces, the processes inside them and the ``tcpc`` links: the primitives the lab builds on.

Everything the project creates carries the ``tcpc`` prefix: network namespaces, links, nftables
tables, and the processes it starts inside its namespaces.  This module is the layer that knows
those objects by name and it never looks at or touches anything without the prefix: every function
that takes a name refuses one without it.

Entering a namespace (:func:`in_netns`) moves the calling thread only; sockets keep the namespace
they were created in.  Nothing here imports pyroute2 at module level (it costs a quarter of a
second), so removal paths that run from a signal handler stay cheap.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import socket
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tcpconform.errors import SetupError

if TYPE_CHECKING:
    import subprocess

PREFIX = "tcpc"
NETNS_DIR = "/var/run/netns"  # where `ip netns` and pyroute2 keep named namespaces
MNT_DETACH = 2
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)


class LabError(SetupError):
    """The lab cannot be set up, inspected or entered; the message says why and what to do."""


NAME_RE = re.compile(r"0|[1-9][0-9]{0,2}")
"""A lab's name: a number 0..255 written without leading zeros."""


def lab_namespaces(name: str | int) -> tuple[str, str]:
    """Lab ``name``'s tester and target namespaces; :class:`LabError` for a name that is no lab's.

    What :func:`tcpconform.lab.spec.lab_spec` names them, without the rest of a lab's description
    (the ``tcpconform`` command finds a lab's resident tester with this alone, before any import).
    """
    text = str(name)
    if not NAME_RE.fullmatch(text) or int(text) > 255:
        raise LabError(f"lab name {name!r}: use a number from 0 to 255 (lab n uses the addresses 198.18.n.0/24)")
    return f"{PREFIX}{text}-tester", f"{PREFIX}{text}-target"


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
    import subprocess

    with contextlib.suppress(FileNotFoundError):
        subprocess.run(["ip", "link", "del", "dev", ifname], capture_output=True, check=False)
    return not if_present(ifname)


# --- entering and creating namespaces-----------------------------------------------------------------------------

@contextlib.contextmanager
def in_netns(ns: str) -> Iterator[None]:
    """Run the block with the *calling thread* inside namespace ``ns``; always switch back.

    Sockets keep the namespace they were created in, so this is how the tester opens its AF_PACKET
    socket (or an rtnetlink socket) inside the lab while the rest of the process stays in the host
    namespace.  Other threads are unaffected: setns(2) is per thread.
    """
    try:
        target = os.open(ns_path(ns), os.O_RDONLY | os.O_CLOEXEC)
    except ValueError as e:
        raise LabError(str(e)) from None
    except FileNotFoundError:
        raise LabError(f"network namespace {ns!r} does not exist (is the lab up? `lab_up()`)") from None
    try:
        home = thread_netns()
        try:
            try:
                setns(target)
            except PermissionError:
                raise LabError(f"entering namespace {ns!r} needs root (CAP_SYS_ADMIN)") from None
            try:
                yield
            finally:
                # Failing to return would leave this thread sending from the wrong namespace: never silent.
                setns(home)
        finally:
            os.close(home)
    finally:
        os.close(target)


def ns_argv(ns: str, argv: list[str]) -> list[str]:
    """``argv`` run inside namespace ``ns`` by ``ip netns exec`` (which also remounts /sys for it)."""
    try:
        check_name(ns)
    except ValueError as e:
        raise LabError(str(e)) from None
    return ["ip", "netns", "exec", ns, *argv]


def ns_create(ns: str) -> None:
    """Create namespace ``ns`` (pyroute2, the same bind mount as ``ip netns add``)."""
    from pyroute2 import netns

    try:
        netns.create(ns_path(ns))
    except PermissionError:
        raise LabError("creating network namespaces needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN)") from None


def run_in_ns(ns: str, argv: list[str], *, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command inside ``ns``; a failure raises :class:`LabError` with its stderr."""
    import subprocess

    try:
        proc = subprocess.run(ns_argv(ns, argv), capture_output=True, text=True, input=input, timeout=30)
    except FileNotFoundError:
        raise LabError("`ip` not found: install iproute2") from None
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(argv)} in {ns}: {proc.stderr.strip() or f'exit status {proc.returncode}'}")
    return proc
