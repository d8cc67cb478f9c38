"""The network lab: two network namespaces joined by a veth pair, brought up, found and taken down.

A packet-level tester must own the wire.  The lab gives it one: a *tester* namespace, whose veth
end carries no address and has IPv6 switched off (so its kernel never answers the tester's segments
with RSTs of its own), and a *target* namespace, where the Linux kernel owns ``198.18.<n>.2`` and
``fd00:7c:<n>::2`` and is the target (and ``.4``/``::4``, its second address: the multihomed host
of RFC 9293 3.9.1.1, for the cases that speak to one).  ``.1``/``::1`` (the tester) and ``.3``/``::3`` (the reference
responder on the wire) are owned by no kernel: the tester answers ARP and Neighbor Solicitations
for them itself, so address resolution stays part of what is tested.

Everything here lives inside namespaces the lab creates; nothing is sent on the host's own
interfaces.  Every name carries the ``tcpc`` prefix so :mod:`tcpconform.lab.leftovers` can find
what a killed run left behind, and every function refuses a namespace without it.  What a lab is
(names, addresses) is :mod:`tcpconform.lab.spec`; how it is checked, :mod:`tcpconform.lab.inspect`;
the namespace primitives, :mod:`tcpconform.lab.netns`.

pyroute2 is imported only where rtnetlink is needed (it costs a quarter of a second to import);
removal (:func:`lab_down`) uses only system calls and ``ip``, so it is safe to run from a signal
handler.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

from tcpconform.lab.guard import on_exit
from tcpconform.lab.inspect import inspect_lab, lab_status, link_state, problems, rtnetlink, status_lines
from tcpconform.lab.ipv6 import enable_quiet_ipv6, set_ipv6_address, wait_for_quiet, wait_operational
from tcpconform.lab.netns import (
    PREFIX,
    LabError,
    delete_root_link,
    if_present,
    in_netns,
    ns_create,
    ns_exists,
    ns_path,
    ns_remove,
    run_in_ns,
    stop_processes,
)
from tcpconform.lab.owner import Maker, made_for, mark_made_for_this_process, unmark
from tcpconform.lab.spec import ETHTOOL_OFF, Lab, lab_spec, offloads, write_sysctl
from tcpconform.wire.ethernet import ETH_P_IPV6

TEMPORARY_NAMES = range(100, 256)
"""Names :func:`temporary_lab` picks from when given none: away from the small numbers people type."""


# --- the lab lock ------------------------------------------------------------------------------

_thread_lock = threading.RLock()
_held: dict[str, tuple[socket.socket, int]] = {}


@contextlib.contextmanager
def _lab_lock(name: str, timeout: float = 30.0) -> Iterator[None]:
    """Serialise set-up and removal of one lab across processes.

    The lock is an abstract unix socket name: the kernel frees it when its holder dies, even by
    ``kill -9``, so no lock file is left behind.  Re-entrant within the process, so a signal handler
    that removes a lab while the interrupted code was building it does not deadlock.
    """
    with _thread_lock:
        if name in _held:
            sock, depth = _held[name]
            _held[name] = (sock, depth + 1)
        else:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            deadline = time.monotonic() + timeout
            while True:
                try:
                    sock.bind(f"\0{PREFIX}-lab-{name}")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        sock.close()
                        raise LabError(f"lab {name}: another process has held it for {timeout:.0f} s") from None
                    time.sleep(0.01)
            _held[name] = (sock, 1)
        try:
            yield
        finally:
            sock, depth = _held[name]
            if depth == 1:
                del _held[name]
                sock.close()
            else:
                _held[name] = (sock, depth - 1)


_LOCK_DIR = "/run"
"""Where the labs' run locks are (root's runtime directory; the temporary one where it is not writable)."""


@contextlib.contextmanager
def lab_in_use(name: str) -> Iterator[None]:
    """Hold lab ``name`` for one run, or refuse at once: two runs on one lab share its target's
    port and agent, and the second's verdicts would be of the first's making.  The hold is an
    ``flock`` on ``/run/tcpc-lab-NAME.lock`` (freed when its holder dies, the file removed by the
    holder on release): a file, unlike an abstract socket name, is one lock whatever network
    namespace the holder runs in (a run handed to the lab's resident tester runs in the tester's)."""
    path = os.path.join(_LOCK_DIR if os.access(_LOCK_DIR, os.W_OK) else tempfile.gettempdir(),
                        f"{PREFIX}-lab-{name}.lock")
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise LabError(f"lab {name} is in use by another run: wait for it to end, or give this run a lab "
                           "of its own (--lab-name)") from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder before removed it as this process opened it: lock the file there now
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


# --- building -----------------------------------------------------------------------------------


def _build(lab: Lab) -> None:
    """Create or repair every part of ``lab``; each step is a no-op when its part is already right."""
    for ns in lab.namespaces:
        _namespace(lab, ns)
    with contextlib.closing(rtnetlink(lab.tester_ns)) as t, contextlib.closing(rtnetlink(lab.target_ns)) as s:
        _veth_pair(lab, t, s)
        for ns, ipr, ifname, mac in ((lab.tester_ns, t, lab.tester_if, lab.tester_mac),
                                     (lab.target_ns, s, lab.target_if, lab.target_mac)):
            _configure_end(lab, ns, ipr, ifname, mac)
    for ns, ifname in ((lab.tester_ns, lab.tester_if), (lab.target_ns, lab.target_if)):
        _offloads_off(ns, ifname)


def _namespace(lab: Lab, ns: str) -> None:
    """Namespace ``ns`` present, with IPv6 off by default and (on the target side) strict ARP."""
    if not ns_exists(ns):
        ns_remove(ns)  # a bare file from a crashed creation
        ns_create(ns)
    with in_netns(ns):
        # Before any link exists, so no interface ever sends router solicitations, DAD or MLD.
        for conf in ("all", "default"):
            write_sysctl(f"net/ipv6/conf/{conf}/disable_ipv6", "1")
        if ns == lab.target_ns:
            # Answer ARP only for addresses on the asking interface, and source requests from them.
            write_sysctl("net/ipv4/conf/all/arp_ignore", "1")
            write_sysctl("net/ipv4/conf/all/arp_announce", "2")


def _veth_pair(lab: Lab, t: Any, s: Any) -> None:
    """The veth pair joining the two namespaces, recreated unless both ends are each other's peer."""
    tl, sl = link_state(t, lab.tester_if), link_state(s, lab.target_if)
    paired = (
        tl is not None and sl is not None and tl["kind"] == "veth" and tl["peer_index"] == sl["index"]
        and sl["peer_index"] == tl["index"] and tl["peer_in_other_ns"]
    )
    if paired:
        return
    for ipr, link in ((t, tl), (s, sl)):
        # Deleting one end removes its peer; an end whose peer's namespace just died vanishes
        # on its own, asynchronously: either way it may be gone by now.
        if link is not None and ipr.link_lookup(ifname=link["name"]):
            with contextlib.suppress(Exception):
                ipr.link("del", index=link["index"])
    delete_root_link(lab.tester_if)
    delete_root_link(lab.target_if)
    peer_fd = os.open(ns_path(lab.target_ns), os.O_RDONLY | os.O_CLOEXEC)
    try:
        # Made inside the tester namespace with its peer born in the target one: no end ever
        # appears in the host namespace, even if this process dies half-way.
        t.link("add", ifname=lab.tester_if, address=lab.tester_mac, kind="veth",
               peer={"ifname": lab.target_if, "address": lab.target_mac, "net_ns_fd": peer_fd})
    finally:
        os.close(peer_fd)


def _configure_end(lab: Lab, ns: str, ipr: Any, ifname: str, mac: str) -> None:
    """One veth end as the lab wants it: IPv6 (quiet on the target, off on the tester), MAC, addresses, up."""
    link = link_state(ipr, ifname)
    assert link is not None
    idx = link["index"]
    with in_netns(ns):
        if ns == lab.target_ns:
            enable_quiet_ipv6(ifname)
        else:
            write_sysctl(f"net/ipv6/conf/{ifname}/disable_ipv6", "1")
    if link["mac"] != mac:
        ipr.link("set", index=idx, state="down")
        ipr.link("set", index=idx, address=mac)
    want = [f"{a}/{lab.prefixlen}" for a in lab.linux_addresses()] if ns == lab.target_ns else []
    for addr in link["ipv4"]:
        if addr not in want:
            a, p = addr.split("/")
            ipr.addr("del", index=idx, address=a, prefixlen=int(p))
    for addr in want:  # the first address first: the kernel makes the second one "secondary"
        if addr not in link["ipv4"]:
            ipr.addr("add", index=idx, address=addr.split("/")[0], prefixlen=lab.prefixlen,
                     broadcast=f"198.18.{lab.name}.255")
    if ns == lab.target_ns:
        set_ipv6_address(ipr, idx, [f"{a}/{lab.prefixlen6}" for a in lab.linux_addresses(ipv6=True)])
    for i in [*ipr.link_lookup(ifname="lo"), idx]:
        ipr.link("set", index=i, state="up")


def _offloads_off(ns: str, ifname: str) -> None:
    """Every offload of ``ifname`` off.

    veth would otherwise hand a raw socket frames with partial checksums (tx) and merged segments
    (GRO), and segment large writes late (TSO/GSO): all of them lie to a tester.
    """
    if any(v != "off" for v in offloads(ns, ifname).values()):
        run_in_ns(ns, ["ethtool", "-K", ifname, *[w for f in ETHTOOL_OFF for w in (f, "off")]], check=False)


def lab_up(name: str | int = "0") -> Lab:
    """Bring lab ``name`` up and return it.

    Idempotent: a complete lab is returned untouched (another process may be using it); a lab that
    is half there (a crashed run, a link set down, offloads turned back on) is repaired in place,
    and its veth pair recreated if it is broken.  Raises :class:`LabError` if the result is still
    not right, saying what is wrong.
    """
    lab = lab_spec(name)
    with _lab_lock(lab.name):
        if all(ns_exists(ns) for ns in lab.namespaces) and not problems(lab, inspect_lab(lab)):
            return lab
        try:
            _build(lab)
            with contextlib.closing(rtnetlink(lab.tester_ns)) as t, contextlib.closing(rtnetlink(lab.target_ns)) as s:
                wait_operational(lambda: [link_state(t, lab.tester_if), link_state(s, lab.target_if)])
            with in_netns(lab.tester_ns):
                watch = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IPV6))
            with contextlib.closing(watch):
                watch.bind((lab.tester_if, ETH_P_IPV6))
                wait_for_quiet(watch)  # the target kernel's MLD reports for its new address
        except LabError:
            raise
        except OSError as e:
            if e.errno in (1, 13):  # EPERM, EACCES
                raise LabError("setting up the lab needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN)") from e
            raise LabError(f"lab {lab.name}: {e}") from e
        except Exception as e:  # pyroute2's NetlinkError and friends
            raise LabError(f"lab {lab.name}: {type(e).__name__}: {e}") from e
        found = problems(lab, inspect_lab(lab))
        if found:
            raise LabError(f"lab {lab.name} is not right after setting it up: {'; '.join(found)}")
        return lab


def lab_down(name: str | int = "0") -> bool:
    """Remove lab ``name``: its processes, its veth pair, both namespaces.  True if anything was removed.

    Uses only system calls and ``ip`` (no rtnetlink library state), so it may run from a signal
    handler or at interpreter exit.  The veth is deleted explicitly rather than left to die with
    its namespace, so it is gone at once even if a socket still holds the namespace.
    """
    lab = lab_spec(name)
    removed = False
    with _lab_lock(lab.name):
        for ns in lab.namespaces:
            if ns_exists(ns):
                removed |= bool(stop_processes(ns))
        if ns_exists(lab.tester_ns):
            with contextlib.suppress(FileNotFoundError):  # no `ip`: the veth still dies with its namespaces
                removed |= subprocess.run(["ip", "-n", lab.tester_ns, "link", "del", "dev", lab.tester_if],
                                          capture_output=True, check=False).returncode == 0
        for ifname in (lab.tester_if, lab.target_if):
            removed |= delete_root_link(ifname)
        for ns in lab.namespaces:
            removed |= ns_remove(ns)
    return removed


def _maker(lab: Lab) -> Maker | None:
    """The process ``lab`` was made for, if the lab is there and records one."""
    return made_for(lab) if all(ns_exists(ns) for ns in lab.namespaces) else None


def _left_note(lab: Lab, maker: Maker | None) -> str | None:
    if maker is None or maker.alive:
        return None
    return f"lab {lab.name} was left behind by a run that was killed (pid {maker.pid})"


def left_by_a_killed_run(name: str | int = "0") -> str | None:
    """If lab ``name`` was made for a run that died without removing it (SIGKILL), what to tell the
    user; else None (no such lab, a user's lab, or one whose maker lives)."""
    lab = lab_spec(name)
    return _left_note(lab, _maker(lab))


def keep_lab(name: str | int = "0") -> str | None:
    """Lab ``name``, if a killed run left it, becomes a user's lab (kept when runs end); returns what
    it was, or None if it was nothing of the kind."""
    left = left_by_a_killed_run(name)
    if left is not None:
        unmark(lab_spec(name))
    return left


def clear_for_a_run(name: str | int = "0") -> str | None:
    """Make lab ``name`` fit for a run to use or make: a lab a killed run left is removed (its state,
    the target's sockets included, is that run's), and said so in the returned note; a lab another
    live process made for itself is refused (:class:`LabError`), since it goes when that ends."""
    lab = lab_spec(name)
    maker = _maker(lab)
    left = _left_note(lab, maker)
    if left is not None:
        lab_down(name)
        return f"{left}: removed, and made afresh for this run"
    if maker is not None and maker.pid != os.getpid():
        raise LabError(f"lab {lab.name} was made by another process (pid {maker.pid}) for itself, and is "
                       "removed when it ends: give this run a lab of its own (--lab-name)")
    return None


def forget_paths(lab: Lab) -> None:
    """Drop what the target's kernel learnt about paths (the route cache's exceptions: a path MTU a
    packet-too-big lowered, kept ten minutes): a run's leftovers, which the next run in a kept lab
    would otherwise find, and judge the target by.

    IPv4 as ``ip -4 route flush cache`` does it (a write to the namespace's ``route/flush``, which
    retires every exception's path MTU), here without a process; IPv6's cached routes are deleted one
    by one, by ``ip -6 route flush cache``, started first so both go on at once."""
    try:
        six = subprocess.Popen(["ip", "-n", lab.target_ns, "-6", "route", "flush", "cache"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except FileNotFoundError:
        raise LabError("`ip` not found: install iproute2") from None
    try:
        with in_netns(lab.target_ns):
            write_sysctl("net/ipv4/route/flush", "-1")
    except (LabError, OSError):
        pass  # no namespace (any more): nothing learnt to forget
    finally:
        six.wait()


def find_lab(name: str | int = "0") -> Lab | None:
    """Lab ``name`` if it is there (both namespaces and both veth ends), configured or not; else None.

    :func:`lab_status` says whether it is configured as it should be.
    """
    lab = lab_spec(name)
    for ns, ifname in ((lab.tester_ns, lab.tester_if), (lab.target_ns, lab.target_if)):
        if not ns_exists(ns):
            return None
        with in_netns(ns):
            if not if_present(ifname):
                return None
    return lab


@contextlib.contextmanager
def temporary_lab(name: str | int | None = None) -> Iterator[Lab]:
    """A lab that exists for the block only: removed on every exit path, SIGTERM and interpreter exit included.

    With no name, the first free one in :data:`TEMPORARY_NAMES` is taken.  An explicit name that is
    already up is refused rather than adopted: this removes its lab on exit, and must not remove
    one it did not create.
    """
    candidates = [str(name)] if name is not None else [str(n) for n in TEMPORARY_NAMES]
    for candidate in candidates:
        lab = lab_spec(candidate)
        with _lab_lock(lab.name):
            if any(os.path.lexists(ns_path(ns)) for ns in lab.namespaces):
                if name is not None:
                    raise LabError(f"lab {lab.name} already exists: a temporary lab will not take over (and then remove) "
                                   f"one it did not create; remove it with lab_down({lab.name!r}) or pick another name")
                continue
            cancel = on_exit(functools.partial(lab_down, lab.name), f"lab {lab.name}")
            try:
                lab_up(lab.name)
                mark_made_for_this_process(lab)
            except BaseException:
                try:
                    lab_down(lab.name)
                finally:
                    cancel()
                raise
        break
    else:
        raise LabError(f"no free lab name in {TEMPORARY_NAMES.start}..{TEMPORARY_NAMES.stop - 1}")
    try:
        yield lab
    finally:
        try:
            lab_down(lab.name)
        finally:
            cancel()


def status_report() -> list[str]:
    """``tcpconform lab status``: every lab present, and what to do with one a killed run left."""
    labs = lab_status()
    out = [] if labs else ["no lab is up (tcpconform lab up)"]
    for e in labs:
        out += status_lines(e)
        left = left_by_a_killed_run(e["name"])
        if left is not None:
            out.append(f"  {left}: `tcpconform lab down {e['name']}` removes it, a run on it makes it afresh")
    return out
