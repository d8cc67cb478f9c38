"""The lab against the real kernel: what lab_up builds, that it is idempotent and repairs, and traffic."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from support.lab import ETH_P_ARP, LAB7, LAB9, Capture, arp_request, needs_root

from tcpconform.lab.guard import pending_exit_actions
from tcpconform.lab.inspect import lab_status
from tcpconform.lab.lab import TEMPORARY_NAMES, find_lab, lab_down, lab_up, temporary_lab
from tcpconform.lab.netns import LabError, in_netns, ns_argv, ns_remove
from tcpconform.lab.spec import Lab, lab_spec


def ip_json(ns: str, *args: str) -> list[dict]:
    return json.loads(subprocess.run(["ip", "-n", ns, "-j", *args], capture_output=True, text=True, check=True).stdout)


def in_ns(ns: str, *argv: str) -> str:
    return subprocess.run(ns_argv(ns, list(argv)), capture_output=True, text=True, check=True).stdout


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {n["name"] for n in json.loads(out or "[]")}


# --- without privileges --------------------------------------------------------------------------


def test_names_pick_addresses_and_short_interface_names() -> None:
    lab = lab_spec(9)
    assert (lab.name, lab.tester_ns, lab.target_ns, lab.tester_if, lab.target_if) == (
        "9", "tcpc9-tester", "tcpc9-target", "tcpc9-t", "tcpc9-s")
    assert (lab.tester_ip, lab.linux_ip, lab.reference_ip, lab.prefixlen) == ("198.18.9.1", "198.18.9.2", "198.18.9.3", 24)
    assert lab.addresses(ipv6=True) == ("fd00:7c:9::1", "fd00:7c:9::2", "fd00:7c:9::3") and lab.network6 == "fd00:7c:9::/64"
    assert lab.tester_mac != lab.target_mac
    assert len(lab_spec("255").tester_if) <= 15


def test_the_default_lab_writes_its_ipv6_addresses_as_the_kernel_does() -> None:
    """Lab 0, the one a user gets, has a zero group: the kernel reports fd00:7c::2, so the lab must
    expect exactly that, or it declares itself broken right after setting itself up."""
    lab = lab_spec("0")
    assert lab.addresses(ipv6=True) == ("fd00:7c::1", "fd00:7c::2", "fd00:7c::3") and lab.network6 == "fd00:7c::/64"


@pytest.mark.parametrize("bad", ["x", "256", "07", "-1", "", "1 "])
def test_bad_names_are_refused_clearly(bad: str) -> None:
    with pytest.raises(LabError, match="number from 0 to 255"):
        lab_spec(bad)


def test_only_tcpc_namespaces_are_entered() -> None:
    assert ns_argv("tcpc3-tester", ["ethtool", "-k", "x"]) == ["ip", "netns", "exec", "tcpc3-tester", "ethtool", "-k", "x"]
    for ns in ("default", "../tcpc0", "tcpc/../x"):
        with pytest.raises(LabError, match="tcpc"), in_netns(ns):
            pass
        with pytest.raises(LabError):
            ns_argv(ns, ["true"])


# --- against the kernel --------------------------------------------------------------------------


@needs_root
def test_link_is_quiet(lab7: Lab) -> None:
    """Nothing on the wire unless someone sends: no IPv6 chatter, no gratuitous ARP."""
    with Capture(lab7.tester_ns, lab7.tester_if) as cap:
        assert cap.collect(0.3) == []


@needs_root
def test_lab_up_builds_exactly_the_lab(lab7: Lab) -> None:
    assert {lab7.tester_ns, lab7.target_ns} <= namespaces()
    tester = {link["ifname"]: link for link in ip_json(lab7.tester_ns, "addr", "show")}
    target = {link["ifname"]: link for link in ip_json(lab7.target_ns, "addr", "show")}
    assert set(tester) == {"lo", lab7.tester_if} and set(target) == {"lo", lab7.target_if}
    for links in (tester, target):
        for link in links.values():
            assert "UP" in link["flags"] and "LOWER_UP" in link["flags"], link
    assert tester[lab7.tester_if]["address"] == lab7.tester_mac
    assert target[lab7.target_if]["address"] == lab7.target_mac
    # The tester side has no address at all (so no kernel RSTs); the target side exactly the Linux target's two.
    assert tester[lab7.tester_if]["addr_info"] == []
    assert sorted((a["family"], a["local"], a["prefixlen"]) for a in target[lab7.target_if]["addr_info"]) == sorted([
        ("inet", lab7.linux_ip, 24), ("inet", lab7.linux_alt_ip, 24), ("inet6", lab7.linux_ip6, 64),
        ("inet6", lab7.linux_alt_ip6, 64)])  # IPv6: no link-local address either
    for ns in lab7.namespaces:
        assert in_ns(ns, "sysctl", "-n", "net.ipv6.conf.all.disable_ipv6").strip() == "1"
    assert in_ns(lab7.target_ns, "sysctl", "-n", "net.ipv4.conf.all.arp_ignore").strip() == "1"
    assert not [name for _, name in socket.if_nameindex() if name.startswith(lab7.prefix)]  # nothing in the host namespace


@needs_root
def test_offloads_are_off(lab7: Lab) -> None:
    for ns, ifname in ((lab7.tester_ns, lab7.tester_if), (lab7.target_ns, lab7.target_if)):
        features = dict(line.split(": ", 1) for line in in_ns(ns, "ethtool", "-k", ifname).splitlines() if ": " in line)
        for name in ("tcp-segmentation-offload", "generic-segmentation-offload", "generic-receive-offload",
                     "large-receive-offload", "tx-checksumming", "rx-checksumming"):
            assert features[name].startswith("off"), (ifname, name, features[name])


@needs_root
def test_lab_up_is_idempotent(lab7: Lab) -> None:
    before = os.stat(f"/var/run/netns/{lab7.tester_ns}").st_ino, ip_json(lab7.tester_ns, "link", "show", lab7.tester_if)
    assert lab_up(LAB7) == lab7 == find_lab(LAB7)
    assert (os.stat(f"/var/run/netns/{lab7.tester_ns}").st_ino, ip_json(lab7.tester_ns, "link", "show", lab7.tester_if)) == before
    (status,) = [s for s in lab_status() if s["name"] == LAB7]
    assert status["complete"] and status["problems"] == []
    assert set(status["tester_if"]["offloads"].values()) == {"off"}
    assert sorted(status["target_if"]["ipv4"]) == [f"{lab7.linux_ip}/24", f"{lab7.linux_alt_ip}/24"]
    assert sorted(status["target_if"]["ipv6"]) == [f"{lab7.linux_ip6}/64", f"{lab7.linux_alt_ip6}/64"]
    assert status["tester_if"]["ipv4"] == [] and status["tester_if"]["ipv6"] == []


@needs_root
def test_lab_up_repairs_a_half_broken_lab(lab7: Lab) -> None:
    ino = os.stat(f"/var/run/netns/{lab7.tester_ns}").st_ino
    subprocess.run(["ip", "-n", lab7.target_ns, "link", "set", lab7.target_if, "down"], check=True)
    subprocess.run(["ip", "-n", lab7.target_ns, "addr", "flush", "dev", lab7.target_if], check=True)
    with in_netns(lab7.tester_ns), open(f"/proc/sys/net/ipv6/conf/{lab7.tester_if}/disable_ipv6", "w") as f:
        f.write("0")  # the tester's kernel would own IPv6 addresses (and answer with RSTs)
    subprocess.run(["ip", "-n", lab7.tester_ns, "addr", "add", f"{lab7.tester_ip}/24", "dev", lab7.tester_if], check=True)
    in_ns(lab7.tester_ns, "ethtool", "-K", lab7.tester_if, "gro", "on")
    (status,) = [s for s in lab_status() if s["name"] == LAB7]
    assert not status["complete"]
    assert any("down" in p for p in status["problems"]) and any("offloads" in p for p in status["problems"])
    assert any(f"IPv6 enabled on {lab7.tester_if}" in p for p in status["problems"])
    assert lab_up(LAB7) == lab7
    assert [s["problems"] for s in lab_status() if s["name"] == LAB7] == [[]]
    assert os.stat(f"/var/run/netns/{lab7.tester_ns}").st_ino == ino  # repaired in place, not recreated
    # Half gone: the target namespace disappears; the veth goes with it, and lab_up builds it again.
    ns_remove(lab7.target_ns)
    assert find_lab(LAB7) is None
    (status,) = [s for s in lab_status() if s["name"] == LAB7]
    assert f"namespace {lab7.target_ns} missing" in status["problems"] and not status["complete"]
    assert lab_up(LAB7) == lab7 and [s["complete"] for s in lab_status() if s["name"] == LAB7] == [True]


@needs_root
def test_traffic_reaches_the_tester_namespace(lab7: Lab) -> None:
    """A connect from the target namespace makes its kernel ARP for the tester's address; the
    tester's AF_PACKET socket, opened through in_netns, sees that request on its veth end."""
    with Capture(lab7.tester_ns, lab7.tester_if, ETH_P_ARP) as cap:
        code = ("import socket; s = socket.socket(); s.setblocking(False); "
                f"s.connect_ex(('{lab7.tester_ip}', 9)); import time; time.sleep(0.3)")
        child = subprocess.Popen(ns_argv(lab7.target_ns, [sys.executable, "-c", code]))
        try:
            frames = cap.collect(2.0, until=lambda fs: any(f.arp_op == 1 for f in fs))
        finally:
            child.wait(5)
    requests = [f for f in frames if f.arp_op == 1]
    assert requests, frames
    assert (requests[0].src_mac, requests[0].arp_sender_ip, requests[0].arp_target_ip) == (
        lab7.target_mac, lab7.linux_ip, lab7.tester_ip)


@needs_root
def test_target_kernel_answers_arp_for_its_address_only(lab7: Lab) -> None:
    with Capture(lab7.tester_ns, lab7.tester_if, ETH_P_ARP) as cap:
        cap.send(arp_request(lab7.tester_mac, lab7.tester_ip, lab7.linux_ip))
        replies = [f for f in cap.collect(1.0, until=lambda fs: any(f.arp_op == 2 for f in fs)) if f.arp_op == 2]
        assert [(f.src_mac, f.arp_sender_ip) for f in replies] == [(lab7.target_mac, lab7.linux_ip)]
        cap.send(arp_request(lab7.tester_mac, lab7.tester_ip, lab7.reference_ip))
        assert [f for f in cap.collect(0.3) if f.arp_op == 2] == []  # 198.18.n.3 belongs to the tester's responder


@needs_root
def test_lab_down_removes_everything_processes_included() -> None:
    lab = lab_up(LAB9)
    try:
        sleeper = subprocess.Popen(ns_argv(lab.target_ns, ["sleep", "30"]))
        with Capture(lab.tester_ns, lab.tester_if) as cap:  # a socket that pins the namespace must not keep the veth
            assert lab_down(LAB9) is True
            with pytest.raises(OSError):
                cap.send(arp_request(lab.tester_mac, lab.tester_ip, lab.linux_ip))
        assert sleeper.wait(5) != 0
        assert not {lab.tester_ns, lab.target_ns} & namespaces()
        assert find_lab(LAB9) is None and [s for s in lab_status() if s["name"] == LAB9] == []
        assert lab_down(LAB9) is False
    finally:
        lab_down(LAB9)


@needs_root
def test_temporary_lab_goes_on_every_exit_path() -> None:
    with pytest.raises(KeyboardInterrupt), temporary_lab(LAB9) as lab:
        assert find_lab(LAB9) == lab and f"lab {LAB9}" in pending_exit_actions()
        raise KeyboardInterrupt
    assert find_lab(LAB9) is None and f"lab {LAB9}" not in pending_exit_actions()
    with pytest.raises(RuntimeError, match="boom"), temporary_lab(LAB9):
        raise RuntimeError("boom")
    assert find_lab(LAB9) is None


@needs_root
def test_temporary_lab_does_not_take_over_an_existing_lab(lab7: Lab) -> None:
    with pytest.raises(LabError, match="already exists"), temporary_lab(LAB7):
        pass
    assert find_lab(LAB7) == lab7  # untouched


@needs_root
def test_temporary_lab_without_a_name_picks_a_free_one() -> None:
    with temporary_lab() as lab:
        assert int(lab.name) in TEMPORARY_NAMES and find_lab(lab.name) == lab
    assert find_lab(lab.name) is None
