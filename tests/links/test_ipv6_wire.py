"""IPv6 in the lab: Neighbor Discovery by the tester, the whole catalogue against the reference
responder on the wire and against the Linux kernel, and a tester-side kernel that stays silent."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from support.wirelab import LAB, needs_root

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_cases
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.run import execute
from tcpconform.session import lab_session
from tcpconform.targets.reference import open_reference

SLOW = {"keepalive-default-idle", "giveup-user-timeout"}
"""Cases of 20 s or more of mandated waiting, left out of the comparisons across families and links
here, as the long cases (minutes each) are: neither depends on the family, and the IPv4 runs against
Linux and the reference judge them; without them each run here takes seconds, not 27."""

pytestmark = needs_root


def _verdicts(result) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Each case's verdict; ``unknown`` where the tester itself was too late to judge (a skip the
    machine's load decides, which the other family's run need not share)."""
    return {c.id: "unknown" if c.reason.startswith("the tester reacted") else c.verdict for c in result.cases}


def _same(a: dict[str, str], b: dict[str, str]) -> bool:
    """Equal, but where either side could not judge."""
    return a.keys() == b.keys() and all(a[k] == b[k] or "unknown" in (a[k], b[k]) for k in a)


def test_the_lab_gives_ipv6_to_the_target_side_only(lab) -> None:  # type: ignore[no-untyped-def]
    from tcpconform.lab.inspect import lab_status

    (status,) = [s for s in lab_status() if s["name"] == lab.name]
    assert status["complete"], status["problems"]
    assert sorted(status["target_if"]["ipv6"]) == sorted([f"{lab.linux_ip6}/64", f"{lab.linux_alt_ip6}/64"])
    assert status["tester_if"]["ipv6"] == [] and status["tester_if"]["ipv6_disabled"]
    out = subprocess.run(["ip", "-n", lab.target_ns, "-j", "-6", "addr", "show", "dev", lab.target_if],
                         capture_output=True, text=True, check=True).stdout
    addrs = json.loads(out)[0]["addr_info"]  # no link-local address: nothing the kernel sends on its own
    assert sorted((a["local"], a["prefixlen"]) for a in addrs) == sorted([(lab.linux_ip6, 64), (lab.linux_alt_ip6, 64)])
    assert not any(a.get("tentative") for a in addrs)


def test_neighbour_discovery_both_ways_and_no_tester_kernel_rst(lab) -> None:  # type: ignore[no-untyped-def]
    from tcpconform.lab.netns import ns_argv
    from tcpconform.links.rawsock import RawEndpoint

    subprocess.run(["ip", "-n", lab.target_ns, "-6", "neigh", "flush", "dev", lab.target_if], check=True)
    tester = RawEndpoint(lab.tester_if, lab.tester_ip6, netns=lab.tester_ns, peer_ip=lab.linux_ip6)
    watcher = RawEndpoint(lab.target_if, lab.linux_ip6, netns=lab.target_ns, peer_ip=lab.tester_ip6, answer_arp=False)
    try:
        assert tester.resolve(lab.linux_ip6) == lab.target_mac  # the kernel answered our solicitation
        # The kernel forgets us, then must solicit the tester's address: the tester answers.
        subprocess.run(["ip", "-n", lab.target_ns, "-6", "neigh", "flush", "dev", lab.target_if], check=True)
        client = subprocess.Popen(ns_argv(lab.target_ns, [sys.executable, "-c",
            "import socket\ns = socket.socket(socket.AF_INET6)\ns.settimeout(2)\n"
            f"try: s.connect(('{lab.tester_ip6}', 9))\nexcept OSError: pass"]))
        deadline = time.time() + 2
        while time.time() < deadline and not tester.pending:
            tester.poll(0.1)
        assert tester.pending, tester.stats
        syn = tester.pending.popleft()
        assert syn.segment.flags.tcpdump() == "S" and syn.checksum == "ok"
        assert tester.stats["nd_answered"] >= 1 or tester.neighbours  # it asked, or it had learnt us from our NS
        # Nobody answers the SYN: above all not the tester namespace's kernel, which has no IPv6.
        end = time.time() + 0.5
        while time.time() < end:
            watcher.poll(end - time.time())
        assert [f.segment for f in watcher.pending if f.segment.flags & 0x04] == []
        client.wait(timeout=5)
    finally:
        tester.close()
        watcher.close()


def test_the_catalogue_over_ipv6_against_the_reference_on_the_wire(lab) -> None:  # type: ignore[no-untyped-def]
    cases = [c for c in load_cases([bundled_cases()]) if not c.long and c.id not in SLOW]
    with lab_session("reference", lab_name=LAB, ipv6=True) as session:
        assert session.link.local_ip == lab.tester_ip6 and session.target.ip == lab.reference_ip6
        wire = execute(cases, session.link, session.target, get_profile(session.profile),
                       base_port=session.base_port, jobs=16)
    assert wire.meta.family == "ipv6"
    bad = {c.id: c.reason for c in wire.cases if c.verdict not in ("pass", "skip")}
    assert bad == {}
    # skipped: the cases for IPv4 only (the default MSS of 536, source quench, TTL and TOS, ...), and no other
    assert {c.id for c in wire.cases if c.verdict == "skip"} == {c.id for c in cases if c.family == "ipv4"}
    ref = open_reference(ipv6=True)
    assert _same(_verdicts(wire), _verdicts(execute(cases, ref.link, ref.target, get_profile("reference"))))


def test_selftest_over_ipv6_on_the_wire_matches_in_process(lab) -> None:  # type: ignore[no-untyped-def]
    from tcpconform.selftest import run_selftest

    cases = [c for c in load_cases([bundled_cases()]) if c.area in ("options", "header")]
    faults = ["ipv6-mss-from-link", "ignore-mss", "accept-bad-checksum", "misparse-nop"]
    wire = run_selftest(cases, faults, lab_name=LAB, ipv6=True)
    here = run_selftest(cases, faults, ipv6=True)
    assert wire.ok, wire.problems
    assert wire.matrix == here.matrix and wire.clean == here.clean


def _linux_verdicts(cases, ipv6: bool, jobs: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with lab_session("linux", lab_name=LAB, ipv6=ipv6) as session:
        return _verdicts(execute(cases, session.link, session.target, get_profile(session.profile),
                                 base_port=session.base_port, jobs=jobs))


def test_linux_over_ipv6_deviates_exactly_as_over_ipv4(lab) -> None:  # type: ignore[no-untyped-def]
    """The address family changes nothing in Linux's TCP that a case sees, but the default MSS."""
    cases = [c for c in load_cases([bundled_cases()]) if not c.long and c.id not in SLOW]
    runs = {ipv6: _linux_verdicts(cases, ipv6, jobs=16) for ipv6 in (False, True)}
    differ = [c for c in cases if runs[False][c.id] != runs[True][c.id]]
    for ipv6 in (False, True):  # what the two runs of 16 connections at once disagree on is judged again alone
        runs[ipv6].update(_linux_verdicts(differ, ipv6, jobs=1))
    assert runs[True].pop("options-mss-default-1220") == "pass"  # Linux assumes 1220 over IPv6
    assert runs[False].pop("options-mss-default-536") == "pass"
    assert runs[True].pop("options-mss-default-536") == runs[False].pop("options-mss-default-1220") == "skip"
    # ICMP differs by family: source quench is ICMPv4's alone, and each family has its out-of-window case
    assert runs[False].pop("icmp-source-quench-ignored") == runs[True].pop("icmp-ptb-out-of-window-ipv6") == "pass"
    assert runs[True].pop("icmp-source-quench-ignored") == runs[False].pop("icmp-ptb-out-of-window-ipv6") == "skip"
    assert runs[False].pop("icmp-ptb-out-of-window") == "pass" and runs[True].pop("icmp-ptb-out-of-window") == "skip"
    # TTL and TOS are IPv4's, hop limit and traffic class IPv6's
    assert runs[False].pop("ip-ttl-tos-set") == runs[True].pop("ip-hop-limit-tclass-set") == "pass"
    assert runs[True].pop("ip-ttl-tos-set") == runs[False].pop("ip-hop-limit-tclass-set") == "skip"
    # IPv4 alone has a directed broadcast, which Linux takes as a source with rp_filter off (its baseline)
    assert runs[False].pop("ip-martian-source-syn") == "fail" and runs[True].pop("ip-martian-source-syn") == "pass"
    # a hard ICMP error in SYN-RECEIVED: tcp_v4_err keeps the request on port unreachable, tcp_v6_err drops it
    assert runs[False].pop("icmp-hard-error-ends-syn-rcvd") == "fail"
    assert runs[True].pop("icmp-hard-error-ends-syn-rcvd") == "skip"
    assert runs[True].pop("icmp-hard-error-ends-syn-rcvd-ipv6") == "pass"
    assert runs[False].pop("icmp-hard-error-ends-syn-rcvd-ipv6") == "skip"
    # the rest of the cases written for one family (DS field, broadcast peer...) are skipped over the other
    for case in cases:
        if case.family is not None and case.id in runs[False] and case.id in runs[True]:
            mine, other = (False, True) if case.family == "ipv4" else (True, False)
            assert runs[other].pop(case.id) == "skip", case.id
            runs[mine].pop(case.id)
    assert _same(runs[True], runs[False]), {k: (v, runs[False].get(k)) for k, v in runs[True].items() if v != runs[False].get(k)}


def test_ipv6_setup_errors_are_one_clear_line(lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tcpconform.lab.netns import ns_argv

    prefix = lab.linux_ip6.rsplit(":", 1)[0]
    for args, message in [
        (["--target", f"{prefix}:9", "--port", "7", "--iface", lab.tester_if, "--source-ip", lab.tester_ip6],
         f"{prefix}:9 does not answer Neighbor Solicitations on {lab.tester_if}"),
        (["--target", lab.linux_ip6, "--port", "7", "--iface", lab.tester_if], "has no IPv6 address: give --source-ip"),
        (["--target", lab.linux_ip6, "--port", "7", "--source-ip", lab.tester_ip], "not of one address family"),
        (["--ipv6", "--target", lab.linux_ip, "--port", "7"], "--ipv6 with an IPv4 --target"),
        (["--target", "fd00::zz", "--port", "7"], "is not an IPv4 or IPv6 address"),
    ]:
        done = subprocess.run(ns_argv(lab.tester_ns, [sys.executable, "-m", "tcpconform.cli", "run", "seed-handshake",
                                                      "--report-dir", str(tmp_path), *args]),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
