"""Address resolution for the address an endpoint speaks for (and its second one, if any): ARP over
IPv4, Neighbor Discovery (:mod:`tcpconform.wire.ndp`) over IPv6.

A group address is not resolved but mapped, as every stack maps it: an IPv4 multicast group to
``01:00:5e`` and its low 23 bits (RFC 1112 6.4), an IPv6 one to ``33:33`` and its low 32 bits (RFC
2464 7), a broadcast (the limited one, or the /24's directed one) to ``ff:ff:ff:ff:ff:ff``.

It learns who is at which MAC from every frame it is shown, asks for a MAC it does not know (an ARP
request; a Neighbor Solicitation to the solicited-node group), and, when the kernel does not own the
endpoint's address (the lab, or a free ``--source-ip``), answers for it.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable

from tcpconform.links.packet_socket import LinkSetupError
from tcpconform.tcp.ip import subnet_broadcast
from tcpconform.wire import decode, encode_arp
from tcpconform.wire.ethernet import mac_bytes
from tcpconform.wire.ndp import Neighbour


def group_mac(ip: str, own: str) -> str | None:
    """The MAC a frame to group address ``ip`` goes to, from a host at ``own`` (``None``: ``ip`` is
    no group address, and is resolved)."""
    address = ipaddress.ip_address(ip)
    if address.is_multicast:
        low = int(address) & (0xFFFFFFFF if address.version == 6 else 0x7FFFFF)
        head = b"\x33\x33" if address.version == 6 else b"\x01\x00\x5e"
        return (head + low.to_bytes(6 - len(head), "big")).hex(":")
    if address.version == 4 and (int(address) == 0xFFFFFFFF or ip == subnet_broadcast(own)):
        return "ff:ff:ff:ff:ff:ff"
    return None


class Neighbours:
    """The neighbour table of address ``ip`` (MAC ``mac``) on ``iface``; frames go out by ``send_frame``.

    ``answer``: reply to ARP requests (IPv6: Neighbor Solicitations) for ``ip``.  ``stats`` counts
    the answers (``arp_answered``, ``nd_answered``).
    """

    def __init__(self, iface: str, ip: str, mac: str, send_frame: Callable[[bytes], object], stats: dict[str, int],
                 *, answer: bool, also: str | None = None) -> None:
        self.iface = iface
        self.ip = ip
        self.own = frozenset(a for a in (ip, also) if a)
        """The addresses answered for: ``ip``, and ``also`` (a second address of the endpoint's)."""
        self.ipv6 = ":" in ip
        self.mac = mac
        self.answer = answer
        self.table: dict[str, str] = {}
        """IP address (canonical text) to MAC."""
        self._send = send_frame
        self._stats = stats

    def resolve(self, ip: str, poll: Callable[[float], object], timeout: float = 1.0, tries: int = 3) -> str:
        """The MAC of ``ip``: learnt from its frames, else asked for, ``poll``-ing the socket meanwhile."""
        mac = self.table.get(ip)  # segments carry canonical text: the one lookup of nearly every send
        if mac is not None:
            return mac
        from tcpconform.wire.ndp import encode_solicitation

        ip = str(ipaddress.ip_address(ip))
        mac = self.table.get(ip) or group_mac(ip, self.ip)
        if mac is not None:
            return mac
        for _ in range(tries):
            if self.ipv6:
                self._send(encode_solicitation(mac_bytes(self.mac), self.ip, ip))
            else:
                self._send(encode_arp(1, self.mac, self.ip, "00:00:00:00:00:00", ip))
            deadline = time.time() + timeout / tries
            while time.time() < deadline:
                poll(deadline - time.time())
                if ip in self.table:
                    return self.table[ip]
        asked = "Neighbor Solicitations" if self.ipv6 else "ARP"
        raise LinkSetupError(f"{ip} does not answer {asked} on {self.iface} (is it on this link, up, and addressed?)")

    def handle(self, data: bytes) -> None:
        """A frame that is not TCP for the endpoint: address resolution is learnt from and answered;
        anything else the filter let through is not ours."""
        frame = decode(data)
        if frame is None:
            return
        if frame.icmp6 is not None:
            nd = frame.nd  # neighbour discovery, or another ICMPv6 message that is not ours
            if nd is not None:
                self._neighbour_discovery(nd, frame.src_mac)
            return
        if frame.arp is not None:
            arp = frame.arp
            if arp.psrc and arp.psrc != "0.0.0.0":
                self.table[arp.psrc] = arp.hwsrc
            if arp.op == 1 and arp.pdst in self.own and self.answer:
                self._send(encode_arp(2, self.mac, arp.pdst, arp.hwsrc, arp.psrc))
                self._stats["arp_answered"] += 1

    def _neighbour_discovery(self, nd: Neighbour, src_mac: str) -> None:
        """Learn from solicitations and advertisements; answer solicitations for our own address
        (RFC 4861 7.2.4: solicited and override, with our link-layer address)."""
        from tcpconform.wire.ndp import UNSPECIFIED, encode_advertisement

        if nd.kind == "advert" and nd.lladdr:
            self.table[nd.target] = nd.lladdr
            return
        if nd.kind != "solicit":
            return
        if nd.src != UNSPECIFIED and nd.lladdr:
            self.table[nd.src] = nd.lladdr
        if nd.target in self.own and self.answer:
            self._send(encode_advertisement(mac_bytes(self.mac), nd.target, mac_bytes(nd.lladdr or src_mac), nd.src))
            self._stats["nd_answered"] += 1
