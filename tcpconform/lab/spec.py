"""What a lab is: its names and addresses, derived from its number, and the kernel settings it reads.

Nothing here changes the system except :func:`write_sysctl`; :func:`lab_spec` only computes.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import shutil
from dataclasses import dataclass

from tcpconform.lab.netns import NAME_RE, PREFIX, LabError, lab_namespaces, list_namespaces, root_links, run_in_ns

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

ETHTOOL_OFF = ["tso", "gso", "gro", "lro", "tx", "rx"]


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
    linux_alt_ip: str = ""
    linux_alt_ip6: str = ""
    """The Linux target's second address in each family, on the same link: the multihomed host the
    cases with ``address: second`` need (RFC 9293 3.9.1.1)."""
    reference_alt_ip: str = ""
    reference_alt_ip6: str = ""
    """The reference responder's second address on the wire, in each family (owned by no kernel, as its first)."""

    @property
    def prefix(self) -> str:
        """What the name of everything of this lab starts with (``tcpconform cleanup --lab``)."""
        return f"{PREFIX}{self.name}-"

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

    def linux_addresses(self, ipv6: bool = False) -> tuple[str, str]:
        """The Linux target's two addresses in one family: its first, then its second."""
        return (self.linux_ip6, self.linux_alt_ip6) if ipv6 else (self.linux_ip, self.linux_alt_ip)

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
    tester_ns, target_ns = lab_namespaces(text)
    n = int(text)
    return Lab(
        name=text,
        tester_ns=tester_ns,
        target_ns=target_ns,
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
        linux_alt_ip=f"198.18.{n}.4",
        linux_alt_ip6=_canonical6(f"fd00:7c:{n}::4"),
        reference_alt_ip=f"198.18.{n}.5",
        reference_alt_ip6=_canonical6(f"fd00:7c:{n}::5"),
    )


def read_sysctl(path: str) -> str | None:
    """The value of ``/proc/sys/<path>`` in the calling thread's namespace; None if the kernel has no such key."""
    try:
        with open(f"/proc/sys/{path}") as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def write_sysctl(path: str, value: str) -> None:
    """Set ``/proc/sys/<path>`` in the calling thread's namespace; a key the kernel lacks is skipped.

    The keys the lab writes that a kernel may lack are IPv6 ones: a kernel without IPv6 needs none of
    them switched off.
    """
    with contextlib.suppress(FileNotFoundError), open(f"/proc/sys/{path}", "w") as f:
        f.write(value)


def ipv6_disabled(ifname: str) -> bool:
    """IPv6 is off on ``ifname`` (or ``all``/``default``), or absent from the kernel."""
    return read_sysctl(f"net/ipv6/conf/{ifname}/disable_ipv6") in (None, "1")


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
    return sorted((n for n in names if NAME_RE.fullmatch(n) and int(n) <= 255), key=int)
