"""The user's own interface towards a device on a wire: its route, its addresses, its offloads.

Read, never changed: the interface is the user's, so what would falsify a run (an offload that
splits or merges segments below the raw socket) is reported as a warning with the command that
turns it off, and left as it is.

Checksum offloads of this interface change nothing the tester reads: a raw socket sees every frame
as it came, whatever the NIC made of its checksum, and the tester checks the checksum itself.  What
matters is the *sender's* transmit checksum offload, on the target's side: a frame whose checksum was
left to it and never filled in (a veth's or a TAP's) is marked so by the kernel, so it is reported
when such frames arrive (:func:`tcpconform.report.console.checksum_warning`), not guessed from here.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess

from tcpconform.errors import SetupError

__all__ = ["LOOPBACK_REFUSAL", "OFFLOAD_SHORT", "InterfaceError", "offload_warnings", "route"]


class InterfaceError(SetupError):
    """No usable interface towards the target; the message says what to give instead."""


_IFF_LOOPBACK = 0x8

LOOPBACK_REFUSAL = (
    "{target} is reached through the loopback interface {iface}, which tcpconform cannot test over: frames "
    "it injects there are dropped by the kernel (IPv4: a 127/8 destination arriving on lo is a martian) or "
    "come back as its own, and the kernel's segments carry checksums left to offload; run the server in "
    "the lab ('tcpconform run --lab linux'), or in a network namespace behind a veth and give "
    "--target <its address> --iface <the veth>"
)
"""Why a target the host routes to itself is refused before anything is sent or installed."""

OFFLOAD_SHORT = {"tcp-segmentation-offload": "tso", "generic-segmentation-offload": "gso",
                 "generic-receive-offload": "gro", "large-receive-offload": "lro"}
"""``ethtool -k`` feature names and the short names ``ethtool -K`` takes."""

_RISKY = {
    "tcp-segmentation-offload": "outgoing super-segments are split by the NIC (what the target sees differs)",
    "generic-segmentation-offload": "outgoing super-segments are split below the raw socket",
    "generic-receive-offload": "incoming segments may be merged before the raw socket sees them",
    "large-receive-offload": "incoming segments may be merged by the NIC",
}


def offload_warnings(iface: str) -> list[str]:
    """Offloads that falsify what a raw socket sees on ``iface``, one warning each."""
    if shutil.which("ethtool") is None:
        return [f"cannot check the offloads of {iface} (no ethtool)"]
    out = subprocess.run(["ethtool", "-k", iface], capture_output=True, text=True).stdout
    warnings = []
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key in _RISKY and value.split() and value.split()[0] == "on":
            warnings.append(f"{iface}: {key} is on — {_RISKY[key]}; "
                            f"consider 'ethtool -K {iface} {OFFLOAD_SHORT[key]} off'")
    return warnings


def route(target_ip: str, iface: str | None) -> tuple[str, list[str]]:
    """The interface towards ``target_ip`` (on-link only) and the kernel's addresses of its family on
    it (IPv6: global and unique-local only; a link-local tester address would need a scope).

    A loopback interface is refused (:data:`LOOPBACK_REFUSAL`): the host's own addresses, 127.0.0.1
    and ::1 included, route there, and no frame the tester could send there would be judged truly.
    """
    from pyroute2 import IPRoute  # netlink, needed only by a run against a device

    family = socket.AF_INET6 if ":" in target_ip else socket.AF_INET
    with IPRoute() as ipr:
        if iface is None:
            try:
                routes = ipr.route("get", dst=target_ip, family=family)
            except Exception:  # pyroute2 raises NetlinkError for "network unreachable"
                raise InterfaceError(f"no route to {target_ip}: give --iface") from None
            attrs = dict(routes[0]["attrs"])
            if "RTA_GATEWAY" in attrs:
                raise InterfaceError(f"{target_ip} is behind a router ({attrs['RTA_GATEWAY']}); "
                                     "tcpconform tests targets on the same link: give --iface")
            index = attrs["RTA_OIF"]
            iface = ipr.get_links(index)[0].get_attr("IFLA_IFNAME")
        links = ipr.link_lookup(ifname=iface)
        if not links:
            raise InterfaceError(f"no interface {iface!r} (see 'ip link')")
        if ipr.get_links(links[0])[0]["flags"] & _IFF_LOOPBACK:
            raise InterfaceError(LOOPBACK_REFUSAL.format(target=target_ip, iface=iface))
        owned = [str(ipaddress.ip_address(a.get_attr("IFA_ADDRESS"))) for a in ipr.get_addr(index=links[0], family=family)
                 if not ipaddress.ip_address(a.get_attr("IFA_ADDRESS")).is_link_local]
    return str(iface), owned
