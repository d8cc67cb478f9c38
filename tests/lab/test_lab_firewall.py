"""RstSuppression against the real kernel: the tester kernel's RST with and without it, and its table's life."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import pytest
from support.lab import Capture, needs_nft, needs_root, tcp_segment

from tcpconform.lab import firewall
from tcpconform.lab.firewall import FirewallError, RstSuppression
from tcpconform.lab.guard import pending_exit_actions
from tcpconform.lab.netns import in_netns, ns_argv
from tcpconform.lab.spec import Lab


def tables(ns: str | None = None) -> str:
    argv = ["nft", "list", "tables"]
    return subprocess.run(ns_argv(ns, argv) if ns else argv, capture_output=True, text=True, check=True).stdout


# --- without privileges --------------------------------------------------------------------------


def test_rule_is_narrow() -> None:
    sup = RstSuppression("198.18.8.2", 7, range(40000, 41000))
    assert sup.table.startswith("tcpc_") and sup.family == "inet"
    rules = [line.strip() for line in sup.ruleset().splitlines() if "drop" in line]
    assert rules == ["ip daddr 198.18.8.2 tcp dport 7 tcp sport { 40000-40999 } tcp flags & rst == rst counter drop "
                     "comment \"tcpconform: the kernel's RSTs to a tested connection\""]
    assert "type filter hook output priority 0" in sup.ruleset()
    assert "tcp sport { 1-3, 5, 9-10 }" in RstSuppression("198.18.8.2", 7, [10, 9, 5, 3, 2, 1]).ruleset()
    assert "ip6 daddr 2001:db8::2 " in RstSuppression("2001:db8::2", 80, [1]).ruleset()
    assert RstSuppression("198.18.8.2", 7, [1]).table != RstSuppression("198.18.8.2", 7, [1]).table
    assert "tcp dport { 7, 9, 13, 19 } " in RstSuppression("198.18.8.2", [19, 7, 13, 9], [1]).ruleset()  # several services


@pytest.mark.parametrize(("args", "message"), [
    (("198.18.8.2", 7, []), "empty"),
    (("198.18.8.2", 7, [0]), "out of range"),
    (("198.18.8.2", 0, [1]), "out of range"),
    (("not-an-address", 7, [1]), "does not appear to be an IPv4 or IPv6 address"),
])
def test_bad_arguments(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RstSuppression(*args)


def test_missing_nft_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(firewall.shutil, "which", lambda name: None)
    with pytest.raises(FirewallError, match="install the `nftables` package"), RstSuppression("198.18.8.2", 7, [1]):
        pass
    assert pending_exit_actions() == []


def test_no_privileges_says_root_or_cap_net_admin(monkeypatch: pytest.MonkeyPatch) -> None:
    refusing_nft = [sys.executable, "-c",
                    "import sys; sys.stderr.write('Error: Could not process rule: Operation not permitted\\n'); sys.exit(1)"]
    monkeypatch.setattr(firewall, "_nft_argv", lambda args, ns: refusing_nft)
    with pytest.raises(FirewallError, match="root or CAP_NET_ADMIN"), RstSuppression("198.18.8.2", 7, [1]):
        pass
    assert pending_exit_actions() == []


# --- against the kernel --------------------------------------------------------------------------


def _handshake(lab: Lab, cap: Capture, raw: socket.socket, sport: int, wait: float) -> list[str]:
    """Send a SYN from ``sport``; the flags of every TCP frame of that port on the target's veth, in order."""
    raw.sendto(tcp_segment(lab.tester_ip, lab.linux_ip, sport, 7, 1000, "S"), (lab.linux_ip, 0))
    frames = cap.collect(wait, until=lambda fs: any(f.sport == sport and f.is_rst for f in fs))
    return [("<" if f.outgoing else ">") + f.flags for f in frames if f.flags and sport in (f.sport, f.dport)]


@needs_root
@needs_nft
def test_kernel_rst_with_and_without_suppression(host_mode_lab: Lab) -> None:
    """Host mode: the tester's own kernel owns its address.  A SYN from a raw socket gets a SYN-ACK,
    which that kernel answers with an RST, unless RstSuppression drops it; RSTs are counted on the
    wire, on the target's veth end."""
    lab = host_mode_lab
    with in_netns(lab.target_ns):
        listener = socket.socket()
        listener.bind((lab.linux_ip, 7))
        listener.listen()
    with in_netns(lab.tester_ns):
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    try:
        with Capture(lab.target_ns, lab.target_if) as cap:
            # '>' arrives at the target, '<' leaves it.
            assert _handshake(lab, cap, raw, 40001, 2.0) == [">S", "<SA", ">R"]
            with RstSuppression(lab.linux_ip, 7, range(40100, 40110), ns=lab.tester_ns) as sup:
                assert sup.table in tables(lab.tester_ns)
                assert _handshake(lab, cap, raw, 40101, 0.5) == [">S", "<SA"]
                assert sup.dropped() == 1
                # Narrow: a port outside the run's still gets its RST.
                assert _handshake(lab, cap, raw, 40200, 2.0) == [">S", "<SA", ">R"]
                assert sup.dropped() == 1
            assert "tcpc_" not in tables(lab.tester_ns)
            assert sup.remove() is False
    finally:
        raw.close()
        listener.close()


@needs_root
@needs_nft
def test_host_namespace_table_is_removed_on_every_exit_path() -> None:
    """Without ``ns`` the table goes into the host's own ruleset (host mode); it must never stay there."""
    with RstSuppression("198.18.9.2", 7, [40000]) as sup:
        assert f"table inet {sup.table}" in tables()
        assert f"nft table inet {sup.table}" in pending_exit_actions()
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    assert sup.table not in tables() and pending_exit_actions() == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with pytest.raises(KeyboardInterrupt), RstSuppression("198.18.9.2", 7, [40000]) as sup2:
        raise KeyboardInterrupt
    assert sup2.table not in tables()
    assert (sup.remove(), sup2.remove()) == (False, False)
    with pytest.raises(FirewallError, match="already installed once"):
        sup.install()
