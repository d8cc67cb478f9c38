"""IPv6 on the lab's target side, configured so the kernel says nothing on the link by itself.

A tester judges every frame the target sends; a kernel that chats on its own (router solicitations,
duplicate address detection, MLD reports) would put frames on the link no case asked for.  Only the
target's veth end gets IPv6: the tester side keeps it switched off, so its kernel owns no address and
never answers the tester's segments with RSTs.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Callable
from typing import Any

from tcpconform.lab.spec import write_sysctl

IFA_F_NODAD = 0x02


def enable_quiet_ipv6(ifname: str) -> None:
    """IPv6 on ``ifname`` (in the calling thread's namespace) with no link-local address
    (``addr_gen_mode`` none), no router solicitations and no duplicate address detection.

    The MLD reports of joining the address's solicited-node group cannot be switched off; with the
    shortest report interval they are over within moments (:func:`wait_for_quiet`), and nothing on
    the link asks for more.
    """
    for key, value in (("addr_gen_mode", "1"), ("accept_ra", "0"), ("router_solicitations", "0"),
                       ("dad_transmits", "0"), ("accept_dad", "0"), ("mldv1_unsolicited_report_interval", "1"),
                       ("mldv2_unsolicited_report_interval", "1"), ("disable_ipv6", "0")):
        write_sysctl(f"net/ipv6/conf/{ifname}/{key}", value)


def set_ipv6_address(ipr: Any, idx: int, want: list[str]) -> None:
    """Exactly the addresses ``want`` (``addr/prefixlen`` each) on link ``idx``, added with
    ``nodad``: usable at once, not after a DAD delay.  Every address after the first is added
    deprecated (preferred lifetime 0, valid for ever): it takes connections and serves a socket
    bound to it, but source address selection (RFC 6724 rule 3) never picks it for one that is not,
    so the kernel's own connections keep coming from the first address, as IPv4's primary does."""
    have = [f"{a.get('address')}/{a['prefixlen']}" for a in ipr.get_addr(family=socket.AF_INET6, index=idx)]
    for addr in have:
        if addr not in want:
            a, p = addr.split("/")
            ipr.addr("del", index=idx, address=a, prefixlen=int(p))
    for i, addr in enumerate(want):
        if addr not in have:
            a, p = addr.split("/")
            lifetime = {"preferred_lft": 0} if i else {}
            ipr.addr("add", index=idx, address=a, prefixlen=int(p), flags=IFA_F_NODAD, **lifetime)


def wait_operational(states: Callable[[], list[dict[str, Any] | None]], limit: float = 3.0) -> None:
    """Until every link ``states()`` describes is operationally up (or ``limit`` seconds passed).

    The kernel takes a veth's carrier in from its link watch, which may run up to a second after the
    link is set up, and only then does IPv6 on the target side send its MLD reports: waiting for
    quiet before that would hand over a lab that still has frames to say.
    """
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if all(st is not None and st["operstate"] == "up" for st in states()):
            return
        time.sleep(0.01)


def wait_for_quiet(sock: socket.socket, gap: float = 0.1, limit: float = 1.0) -> bool:
    """Read IPv6 frames from ``sock`` (an AF_PACKET socket on the link) until none came for ``gap``
    seconds; ``False`` if the link did not fall silent within ``limit``.

    The kernel's MLD reports for a new address go out shortly after it is added; a lab handed over
    before they are done would show a test frames nobody sent for it.
    """
    sock.setblocking(False)
    deadline = time.monotonic() + limit
    quiet_from = time.monotonic()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], gap)
        if not ready:
            if time.monotonic() - quiet_from >= gap:
                return True
            continue
        with contextlib.suppress(BlockingIOError):
            while True:
                sock.recv(65536)
        quiet_from = time.monotonic()
    return False
