"""The network lab: two network namespaces joined by a veth pair.

A packet-level tester must own the wire.  The lab gives it one: a *tester* namespace, whose veth
end carries no address and has IPv6 switched off (so its kernel never answers the tester's segments
with RSTs of its own), and a *target* namespace, where the Linux kernel owns ``198.18.<n>.2`` and
``fd00:7c:<n>::2`` and is the target.  ``.1``/``::1`` (the tester) and ``.3``/``::3`` (the reference
responder on the wire) are owned by no kernel: the tester answers ARP and Neighbor Solicitations
for them itself, so address resolution stays part of what is tested.

Everything here lives inside namespaces the lab creates; nothing is sent on the host's own
interfaces.  Every name carries the ``tcpc`` prefix so :mod:`tcpconform.cleanup` can find what a
killed run left behind, and every function refuses a namespace without it.  The primitives on
namespaces, processes and links are in :mod:`tcpconform.cleanup`; this module builds the lab on them.

pyroute2 is imported only where rtnetlink is needed (it costs a quarter of a second to import);
removal (:func:`lab_down`) uses only system calls and ``ip``, so it is safe to run from a signal
handler.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import ipaddress
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tcpconform.errors import SetupError
from tcpconform.lab.ipv6 import ETH_P_IPV6, enable_quiet_ipv6, set_ipv6_address, wait_for_quiet, wait_operational
from tcpconform.lab.netns import (
    PREFIX,
    check_name,
    delete_root_link,
    if_present,
    list_namespaces,
    ns_exists,
    ns_path,
    ns_remove,
    on_exit,
    root_links,
    setns,
    stop_processes,
    thread_netns,
)

OFFLOAD_FEATURES = (
    "tx-checksumming",
    "rx-checksumming",
    "tcp-segmentation-offload",
    "generic-segmentation-offload",
    "generic-receive-offload",
    "large-receive-offload",
)
"""The ``ethtool -k`` features that must be off: each one falsifies what a raw socket sees (partial
checksums, segments merged or not yet split)."""

_ETHTOOL_OFF = ["tso", "gso", "gro", "lro", "tx", "rx"]
_NAME_RE = re.compile(r"0|[1-9][0-9]{0,2}")
TEMPORARY_NAMES = range(100, 256)
"""Names :func:`temporary_lab` picks from when given none: away from the small numbers people type."""


class LabError(SetupError):
    """The lab cannot be set up, inspected or entered; the message says why and what to do."""


@dataclass(frozen=True)
class Lab:
    """One lab: names and addresses, all derived from the lab's name (a number ``n``)."""

    name: str
    tester_ns: str
    target_ns: str
    tester_if: str
    target_if: str
    tester_ip: str
    linux_ip: str
    reference_ip: str
    tester_mac: str
    target_mac: str
    prefixlen: int = 24
    tester_ip6: str = ""
    linux_ip6: str = ""
    reference_ip6: str = ""
    prefixlen6: int = 64

    @property
    def network(self) -> str:
        return f"198.18.{self.name}.0/{self.prefixlen}"

    @property
    def network6(self) -> str:
        return str(ipaddress.IPv6Network(f"fd00:7c:{self.name}::/{self.prefixlen6}"))

    def addresses(self, ipv6: bool = False) -> tuple[str, str, str]:
        """(tester, Linux target, reference responder) in one family."""
        if ipv6:
            return self.tester_ip6, self.linux_ip6, self.reference_ip6
        return self.tester_ip, self.linux_ip, self.reference_ip

    @property
    def namespaces(self) -> tuple[str, str]:
        return (self.tester_ns, self.target_ns)


def _canonical6(address: str) -> str:
    return str(ipaddress.IPv6Address(address))


def lab_spec(name: str | int = "0") -> Lab:
    """The :class:`Lab` a name stands for, without touching the system.

    Names are numbers 0..255 because the number picks the lab's /24 inside 198.18.0.0/15 (the
    benchmarking range, RFC 2544), and interface names must stay within 15 characters.  Over IPv6
    the lab is ``fd00:7c:<n>::/64`` (unique-local, RFC 4193; the number's digits read as written).
    """
    text = str(name)
    if not _NAME_RE.fullmatch(text) or int(text) > 255:
        raise LabError(f"lab name {name!r}: use a number from 0 to 255 (lab n uses the addresses 198.18.n.0/24)")
    n = int(text)
    return Lab(
        name=text,
        tester_ns=f"{PREFIX}{text}-tester",
        target_ns=f"{PREFIX}{text}-target",
        tester_if=f"{PREFIX}{text}-t",
        target_if=f"{PREFIX}{text}-s",
        tester_ip=f"198.18.{n}.1",
        linux_ip=f"198.18.{n}.2",
        reference_ip=f"198.18.{n}.3",
        # Locally administered, fixed per lab, so captures read the same on every run ("tcp" = 74 63 70).
        tester_mac=f"02:74:63:70:{n:02x}:01",
        target_mac=f"02:74:63:70:{n:02x}:02",
        # Written as the kernel writes them (RFC 5952): lab 0's are fd00:7c::1, not fd00:7c:0::1.
        tester_ip6=_canonical6(f"fd00:7c:{n}::1"),
        linux_ip6=_canonical6(f"fd00:7c:{n}::2"),
        reference_ip6=_canonical6(f"fd00:7c:{n}::3"),
    )


# --- namespaces ---------------------------------------------------------------------------------

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
    try:
        proc = subprocess.run(ns_argv(ns, argv), capture_output=True, text=True, input=input, timeout=30)
    except FileNotFoundError:
        raise LabError("`ip` not found: install iproute2") from None
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(argv)} in {ns}: {proc.stderr.strip() or f'exit status {proc.returncode}'}")
    return proc


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


# --- inspection ---------------------------------------------------------------------------------


def _ipr(ns: str) -> Any:
    """An rtnetlink socket bound to namespace ``ns`` (created inside it, used from anywhere)."""
    from pyroute2 import IPRoute

    with in_netns(ns):
        return IPRoute()


def _link_state(ipr: Any, ifname: str) -> dict[str, Any] | None:
    """What matters about ``ifname``, or None if it is not there (or vanishes while being looked at)."""
    from pyroute2.netlink.exceptions import NetlinkError

    found = ipr.link_lookup(ifname=ifname)
    if not found:
        return None
    try:
        (msg,) = ipr.get_links(found[0])
        ipv4 = [f"{a.get('address')}/{a['prefixlen']}" for a in ipr.get_addr(family=socket.AF_INET, index=msg["index"])]
        ipv6 = [f"{a.get('address')}/{a['prefixlen']}" for a in ipr.get_addr(family=socket.AF_INET6, index=msg["index"])]
    except NetlinkError as e:
        if e.code == errno.ENODEV:
            return None
        raise
    flags = msg["flags"]
    return {
        "name": ifname,
        "index": msg["index"],
        "kind": msg.get(("linkinfo", "kind")),
        "mac": msg.get("address"),
        "up": bool(flags & 0x1),  # IFF_UP
        "carrier": bool(flags & 0x10000),  # IFF_LOWER_UP: the peer is up too
        "operstate": msg.get("state"),  # "up" once the kernel's link watch has taken the carrier in
        "peer_index": msg.get("link"),
        "peer_in_other_ns": msg.get("link_netnsid") is not None,
        "ipv4": ipv4,
        "ipv6": ipv6,
    }


def _read_sysctl(path: str) -> str | None:
    try:
        with open(f"/proc/sys/{path}") as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def _write_sysctl(path: str, value: str) -> None:
    with contextlib.suppress(FileNotFoundError), open(f"/proc/sys/{path}", "w") as f:  # no IPv6 in the kernel at all: fine
        f.write(value)


def _ipv6_disabled(ifname: str) -> bool:
    return _read_sysctl(f"net/ipv6/conf/{ifname}/disable_ipv6") in (None, "1")


def offloads(ns: str, ifname: str) -> dict[str, str]:
    """The :data:`OFFLOAD_FEATURES` of ``ifname`` in ``ns`` as ``ethtool -k`` reports them (``on``/``off``)."""
    if shutil.which("ethtool") is None:
        raise LabError("`ethtool` not found: install ethtool (the lab turns veth offloads off with it)")
    out = run_in_ns(ns, ["ethtool", "-k", ifname]).stdout
    found = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key in OFFLOAD_FEATURES:
            found[key] = value.split()[0] if value.split() else "?"
    return found


def _inspect(lab: Lab, with_offloads: bool = True) -> dict[str, Any]:
    """Everything about one lab that decides whether it is usable, as plain data."""
    state: dict[str, Any] = {
        "name": lab.name,
        "network": lab.network,
        "tester_ip": lab.tester_ip,
        "linux_ip": lab.linux_ip,
        "reference_ip": lab.reference_ip,
        "network6": lab.network6,
        "tester_ip6": lab.tester_ip6,
        "linux_ip6": lab.linux_ip6,
        "reference_ip6": lab.reference_ip6,
        "tester_ns": {"name": lab.tester_ns, "present": ns_exists(lab.tester_ns)},
        "target_ns": {"name": lab.target_ns, "present": ns_exists(lab.target_ns)},
        "tester_if": None,
        "target_if": None,
    }
    for side in ("tester", "target"):
        ns, ifname = getattr(lab, f"{side}_ns"), getattr(lab, f"{side}_if")
        if not state[f"{side}_ns"]["present"]:
            continue
        with contextlib.closing(_ipr(ns)) as ipr:
            lo = _link_state(ipr, "lo")
            link = _link_state(ipr, ifname)
        with in_netns(ns):
            state[f"{side}_ns"]["lo_up"] = bool(lo and lo["up"])
            state[f"{side}_ns"]["ipv6_disabled"] = _ipv6_disabled("all") and _ipv6_disabled("default")
            if side == "target":
                state["target_ns"]["arp_ignore"] = _read_sysctl("net/ipv4/conf/all/arp_ignore")
                state["target_ns"]["arp_announce"] = _read_sysctl("net/ipv4/conf/all/arp_announce")
            if link:
                link["ipv6_disabled"] = _ipv6_disabled(ifname)
        if link and with_offloads:
            try:
                link["offloads"] = offloads(ns, ifname)
            except LabError:
                with in_netns(ns):
                    if if_present(ifname):
                        raise
                # A veth end whose peer's namespace was just removed dies moments later, asynchronously.
                link = None
        state[f"{side}_if"] = link
    return state


def _problems(lab: Lab, state: dict[str, Any]) -> list[str]:
    """What keeps the lab described by ``state`` from being exactly what :func:`lab_up` builds."""
    problems = []
    for side in ("tester", "target"):
        nss = state[f"{side}_ns"]
        if not nss["present"]:
            problems.append(f"namespace {nss['name']} missing")
            continue
        if not nss["lo_up"]:
            problems.append(f"lo down in {nss['name']}")
        if not nss["ipv6_disabled"]:
            problems.append(f"IPv6 enabled in {nss['name']}")
        link = state[f"{side}_if"]
        ifname = getattr(lab, f"{side}_if")
        if link is None:
            problems.append(f"{ifname} missing")
            continue
        if link["kind"] != "veth" or not link["peer_in_other_ns"]:
            problems.append(f"{ifname} is not a veth end with its peer in the other namespace")
        if link["mac"] != getattr(lab, f"{side}_mac"):
            problems.append(f"{ifname} has MAC {link['mac']}, not {getattr(lab, f'{side}_mac')}")
        if not link["up"]:
            problems.append(f"{ifname} down")
        if side == "tester" and not link["ipv6_disabled"]:
            problems.append(f"IPv6 enabled on {ifname} (the tester's kernel must not own its address)")
        if side == "target" and link["ipv6_disabled"]:
            problems.append(f"IPv6 disabled on {ifname}")
        on = [k for k, v in link.get("offloads", {}).items() if v != "off"]
        if on:
            problems.append(f"offloads on {ifname}: {', '.join(on)}")
    tester, target = state["tester_if"], state["target_if"]
    if tester and target and (tester["peer_index"] != target["index"] or target["peer_index"] != tester["index"]):
        problems.append(f"{lab.tester_if} and {lab.target_if} are not each other's peer")
    if tester and tester["ipv4"]:
        problems.append(f"{lab.tester_if} has IPv4 addresses {tester['ipv4']} (the tester side must have none)")
    want = f"{lab.linux_ip}/{lab.prefixlen}"
    if target and target["ipv4"] != [want]:
        problems.append(f"{lab.target_if} has IPv4 addresses {target['ipv4']}, not [{want}]")
    if tester and tester.get("ipv6"):
        problems.append(f"{lab.tester_if} has IPv6 addresses {tester['ipv6']} (the tester side must have none)")
    want6 = f"{lab.linux_ip6}/{lab.prefixlen6}"
    if target and not target["ipv6_disabled"] and target.get("ipv6") != [want6]:
        problems.append(f"{lab.target_if} has IPv6 addresses {target.get('ipv6')}, not [{want6}]")
    if state["target_ns"].get("arp_ignore") not in (None, "1") or state["target_ns"].get("arp_announce") not in (None, "2"):
        problems.append(f"arp_ignore/arp_announce not 1/2 in {lab.target_ns}")
    return problems


# --- building -----------------------------------------------------------------------------------


def _build(lab: Lab) -> None:
    """Create or repair every part of ``lab``; each step is a no-op when its part is already right."""
    for ns in lab.namespaces:
        if not ns_exists(ns):
            ns_remove(ns)  # a bare file from a crashed creation
            ns_create(ns)
        with in_netns(ns):
            # Before any link exists, so no interface ever sends router solicitations, DAD or MLD.
            for conf in ("all", "default"):
                _write_sysctl(f"net/ipv6/conf/{conf}/disable_ipv6", "1")
            if ns == lab.target_ns:
                # Answer ARP only for addresses on the asking interface, and source requests from them.
                _write_sysctl("net/ipv4/conf/all/arp_ignore", "1")
                _write_sysctl("net/ipv4/conf/all/arp_announce", "2")
    with contextlib.closing(_ipr(lab.tester_ns)) as t, contextlib.closing(_ipr(lab.target_ns)) as s:
        tl, sl = _link_state(t, lab.tester_if), _link_state(s, lab.target_if)
        paired = (
            tl is not None and sl is not None and tl["kind"] == "veth" and tl["peer_index"] == sl["index"]
            and sl["peer_index"] == tl["index"] and tl["peer_in_other_ns"]
        )
        if not paired:
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
        for ns, ipr, ifname, mac in ((lab.tester_ns, t, lab.tester_if, lab.tester_mac),
                                     (lab.target_ns, s, lab.target_if, lab.target_mac)):
            link = _link_state(ipr, ifname)
            assert link is not None
            idx = link["index"]
            with in_netns(ns):
                if ns == lab.target_ns:
                    enable_quiet_ipv6(ifname)
                else:
                    _write_sysctl(f"net/ipv6/conf/{ifname}/disable_ipv6", "1")
            if link["mac"] != mac:
                ipr.link("set", index=idx, state="down")
                ipr.link("set", index=idx, address=mac)
            want = [f"{lab.linux_ip}/{lab.prefixlen}"] if ns == lab.target_ns else []
            for addr in link["ipv4"]:
                if addr not in want:
                    a, p = addr.split("/")
                    ipr.addr("del", index=idx, address=a, prefixlen=int(p))
            for addr in want:
                if addr not in link["ipv4"]:
                    ipr.addr("add", index=idx, address=lab.linux_ip, prefixlen=lab.prefixlen,
                             broadcast=f"198.18.{lab.name}.255")
            if ns == lab.target_ns:
                set_ipv6_address(ipr, idx, f"{lab.linux_ip6}/{lab.prefixlen6}")
            for i in [*ipr.link_lookup(ifname="lo"), idx]:
                ipr.link("set", index=i, state="up")
    for ns, ifname in ((lab.tester_ns, lab.tester_if), (lab.target_ns, lab.target_if)):
        # veth would otherwise hand a raw socket frames with partial checksums (tx) and merged
        # segments (GRO), and segment large writes late (TSO/GSO): all of them lie to a tester.
        if any(v != "off" for v in offloads(ns, ifname).values()):
            run_in_ns(ns, ["ethtool", "-K", ifname, *[w for f in _ETHTOOL_OFF for w in (f, "off")]], check=False)


def lab_up(name: str | int = "0") -> Lab:
    """Bring lab ``name`` up and return it.

    Idempotent: a complete lab is returned untouched (another process may be using it); a lab that
    is half there (a crashed run, a link set down, offloads turned back on) is repaired in place,
    and its veth pair recreated if it is broken.  Raises :class:`LabError` if the result is still
    not right, saying what is wrong.
    """
    lab = lab_spec(name)
    with _lab_lock(lab.name):
        if all(ns_exists(ns) for ns in lab.namespaces) and not _problems(lab, _inspect(lab)):
            return lab
        try:
            _build(lab)
            with contextlib.closing(_ipr(lab.tester_ns)) as t, contextlib.closing(_ipr(lab.target_ns)) as s:
                wait_operational(lambda: [_link_state(t, lab.tester_if), _link_state(s, lab.target_if)])
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
        problems = _problems(lab, _inspect(lab))
        if problems:
            raise LabError(f"lab {lab.name} is not right after setting it up: {'; '.join(problems)}")
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


def lab_names() -> list[str]:
    """Names of every lab with at least one part present, in numeric order."""
    names = set()
    for ns in list_namespaces():
        m = re.fullmatch(rf"{PREFIX}(\d+)-(tester|target)", ns)
        if m:
            names.add(m.group(1))
    for ifname in root_links():
        m = re.fullmatch(rf"{PREFIX}(\d+)-[ts]", ifname)
        if m:
            names.add(m.group(1))
    return sorted((n for n in names if _NAME_RE.fullmatch(n) and int(n) <= 255), key=int)


def lab_status() -> list[dict[str, Any]]:
    """Every tcpc lab present: names, addresses, namespaces, links (up? carrier? MAC, IPv4), offloads,
    and ``complete`` with the ``problems`` that keep it from being so."""
    out = []
    for name in lab_names():
        lab = lab_spec(name)
        state = _inspect(lab)
        state["root_links"] = [i for i in (lab.tester_if, lab.target_if) if if_present(i)]
        state["problems"] = _problems(lab, state)
        state["complete"] = not state["problems"]
        out.append(state)
    return out


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
