"""Inspecting a lab: what is there, as plain data, and what keeps it from being what :func:`tcpconform.lab.lab.lab_up` builds.

Reading only: nothing here changes a namespace or a link.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from typing import Any

from tcpconform.lab.netns import LabError, if_present, in_netns, ns_exists
from tcpconform.lab.spec import Lab, ipv6_disabled, lab_names, lab_spec, offloads, read_sysctl


def rtnetlink(ns: str) -> Any:
    """An rtnetlink socket bound to namespace ``ns`` (created inside it, used from anywhere)."""
    from pyroute2 import IPRoute

    with in_netns(ns):
        return IPRoute()


def link_state(ipr: Any, ifname: str) -> dict[str, Any] | None:
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


def inspect_lab(lab: Lab, with_offloads: bool = True) -> dict[str, Any]:
    """Everything about one lab that decides whether it is usable, as plain data."""
    state: dict[str, Any] = {
        "name": lab.name,
        "network": lab.network,
        "tester_ip": lab.tester_ip,
        "linux_ip": lab.linux_ip,
        "linux_alt_ip": lab.linux_alt_ip,
        "reference_ip": lab.reference_ip,
        "reference_alt_ip": lab.reference_alt_ip,
        "network6": lab.network6,
        "tester_ip6": lab.tester_ip6,
        "linux_ip6": lab.linux_ip6,
        "linux_alt_ip6": lab.linux_alt_ip6,
        "reference_ip6": lab.reference_ip6,
        "reference_alt_ip6": lab.reference_alt_ip6,
        "tester_ns": {"name": lab.tester_ns, "present": ns_exists(lab.tester_ns)},
        "target_ns": {"name": lab.target_ns, "present": ns_exists(lab.target_ns)},
        "tester_if": None,
        "target_if": None,
    }
    for side in ("tester", "target"):
        ns, ifname = getattr(lab, f"{side}_ns"), getattr(lab, f"{side}_if")
        if not state[f"{side}_ns"]["present"]:
            continue
        with contextlib.closing(rtnetlink(ns)) as ipr:
            lo = link_state(ipr, "lo")
            link = link_state(ipr, ifname)
        with in_netns(ns):
            state[f"{side}_ns"]["lo_up"] = bool(lo and lo["up"])
            state[f"{side}_ns"]["ipv6_disabled"] = ipv6_disabled("all") and ipv6_disabled("default")
            if side == "target":
                state["target_ns"]["arp_ignore"] = read_sysctl("net/ipv4/conf/all/arp_ignore")
                state["target_ns"]["arp_announce"] = read_sysctl("net/ipv4/conf/all/arp_announce")
            if link:
                link["ipv6_disabled"] = ipv6_disabled(ifname)
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


def problems(lab: Lab, state: dict[str, Any]) -> list[str]:
    """What keeps the lab described by ``state`` from being exactly what :func:`tcpconform.lab.lab.lab_up` builds."""
    found = []
    for side in ("tester", "target"):
        nss = state[f"{side}_ns"]
        if not nss["present"]:
            found.append(f"namespace {nss['name']} missing")
            continue
        if not nss["lo_up"]:
            found.append(f"lo down in {nss['name']}")
        if not nss["ipv6_disabled"]:
            found.append(f"IPv6 enabled in {nss['name']}")
        link = state[f"{side}_if"]
        ifname = getattr(lab, f"{side}_if")
        if link is None:
            found.append(f"{ifname} missing")
            continue
        if link["kind"] != "veth" or not link["peer_in_other_ns"]:
            found.append(f"{ifname} is not a veth end with its peer in the other namespace")
        if link["mac"] != getattr(lab, f"{side}_mac"):
            found.append(f"{ifname} has MAC {link['mac']}, not {getattr(lab, f'{side}_mac')}")
        if not link["up"]:
            found.append(f"{ifname} down")
        if side == "tester" and not link["ipv6_disabled"]:
            found.append(f"IPv6 enabled on {ifname} (the tester's kernel must not own its address)")
        if side == "target" and link["ipv6_disabled"]:
            found.append(f"IPv6 disabled on {ifname}")
        on = [k for k, v in link.get("offloads", {}).items() if v != "off"]
        if on:
            found.append(f"offloads on {ifname}: {', '.join(on)}")
    tester, target = state["tester_if"], state["target_if"]
    if tester and target and (tester["peer_index"] != target["index"] or target["peer_index"] != tester["index"]):
        found.append(f"{lab.tester_if} and {lab.target_if} are not each other's peer")
    if tester and tester["ipv4"]:
        found.append(f"{lab.tester_if} has IPv4 addresses {tester['ipv4']} (the tester side must have none)")
    want = [f"{a}/{lab.prefixlen}" for a in lab.linux_addresses()]
    if target and sorted(target["ipv4"]) != sorted(want):
        found.append(f"{lab.target_if} has IPv4 addresses {target['ipv4']}, not {want}")
    if tester and tester.get("ipv6"):
        found.append(f"{lab.tester_if} has IPv6 addresses {tester['ipv6']} (the tester side must have none)")
    want6 = [f"{a}/{lab.prefixlen6}" for a in lab.linux_addresses(ipv6=True)]
    if target and not target["ipv6_disabled"] and sorted(target.get("ipv6") or []) != sorted(want6):
        found.append(f"{lab.target_if} has IPv6 addresses {target.get('ipv6')}, not {want6}")
    if state["target_ns"].get("arp_ignore") not in (None, "1") or state["target_ns"].get("arp_announce") not in (None, "2"):
        found.append(f"arp_ignore/arp_announce not 1/2 in {lab.target_ns}")
    return found


def lab_status() -> list[dict[str, Any]]:
    """Every tcpc lab present: names, addresses, namespaces, links (up? carrier? MAC, IPv4), offloads,
    and ``complete`` with the ``problems`` that keep it from being so.  A lab another run removes
    while it is looked at is left out: it is no longer present."""
    out = []
    for name in lab_names():
        lab = lab_spec(name)
        state = _inspect_settled(lab)
        if state is None:
            continue
        state["root_links"] = [i for i in (lab.tester_if, lab.target_if) if if_present(i)]
        state["problems"] = problems(lab, state)
        state["complete"] = not state["problems"]
        out.append(state)
    return out


def _inspect_settled(lab: Lab) -> dict[str, Any] | None:
    """:func:`inspect_lab`, once more if a namespace went away under it; None: the lab is gone."""
    for again in (False, True):
        try:
            return inspect_lab(lab)
        except LabError:
            if not any(ns_exists(ns) for ns in lab.namespaces):
                return None
            if again:
                raise
    return None


def status_lines(entry: dict[str, Any]) -> list[str]:
    """One lab of :func:`lab_status` as ``tcpconform lab status`` prints it: its links, addresses, problems."""
    out = [f"lab {entry['name']} ({entry['network']}, {entry['network6']}): "
           f"{'complete' if entry['complete'] else 'INCOMPLETE'}"]
    for side in ("tester_if", "target_if"):
        link = entry.get(side) or {}
        offs = link.get("offloads") or {}
        on = [k for k, v in offs.items() if v != "off"]
        out.append(f"  {link.get('name', side)}: {'up' if link.get('up') else 'DOWN'}, mac {link.get('mac')}, "
                   f"ipv4 {', '.join(link.get('ipv4') or []) or 'none'}, "
                   f"ipv6 {', '.join(link.get('ipv6') or []) or 'none'}, "
                   f"offloads {'all off' if offs and not on else 'ON: ' + ', '.join(on) if on else 'unknown'}")
    out.append(f"  tester {entry['tester_ip']}, Linux target {entry['linux_ip']} (and {entry['linux_alt_ip']}), "
               f"reference responder {entry['reference_ip']} (and {entry['reference_alt_ip']})")
    out.append(f"  tester {entry['tester_ip6']}, Linux target {entry['linux_ip6']} (and {entry['linux_alt_ip6']}), "
               f"reference responder {entry['reference_ip6']} (and {entry['reference_alt_ip6']})")
    out.extend(f"  problem: {problem}" for problem in entry.get("problems", []))
    return out
