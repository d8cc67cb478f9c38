"""The raw-socket link: real segments on a real interface, through one AF_PACKET socket.

:class:`RawEndpoint` is one address on one interface, spoken for by this process: its socket
(:mod:`tcpconform.links.packet_socket`: the BPF filter lets only address resolution, ARP or ICMPv6
for Neighbor Discovery, and the TCP for the address reach Python, stamped with the kernel's receive
times), its neighbours (:mod:`tcpconform.links.neighbours`: the target's MAC resolved, the address
answered for when the kernel does not own it), and the TCP segments for it, queued as they arrived.
It is shared with the reference responder on the wire; :class:`RawSocketLink` is the engine's link
on top of it.
"""

from __future__ import annotations

import ipaddress
import time
from collections import deque

from tcpconform.links.base import Checksum, Clock, Received, Sent
from tcpconform.links.bpf import endpoint_filter
from tcpconform.links.neighbours import Neighbours
from tcpconform.links.packet_socket import PacketSocket
from tcpconform.tcp.icmp import IcmpError
from tcpconform.tcp.segment import Segment
from tcpconform.wire import encode, tcp_segment
from tcpconform.wire.icmp import encode_icmp, parse_icmp

__all__ = ["RawEndpoint", "RawSocketLink", "unspecified"]


def unspecified(ip: str) -> str:
    """The unspecified address of ``ip``'s family."""
    return "::" if ":" in ip else "0.0.0.0"


class RawEndpoint:
    """One IPv4 or IPv6 address on one interface, spoken for by this process.

    ``answer_arp``: reply to ARP requests (IPv6: Neighbor Solicitations) for ``ip`` (when the kernel
    does not own it).
    ``netns``: open the socket inside that network namespace (the socket keeps it for life).
    ``peer_ip``: admit TCP from that address only, whatever its destination: an answer a faulty
    target sends to a spoofed source (127.0.0.1, a broadcast address, itself) reaches this
    interface only when the target puts it on the wire, and then the case that spoofed it sees it.
    ``peer_alt``: with ``peer_ip``, the peer's second address, admitted the same way, and with it the
    unspecified address (0.0.0.0, ::): the source of a SYN a multihomed peer sent before choosing one.
    ``also``: a second address of the endpoint's own (the responder on the wire, multihomed): TCP to
    it is admitted and ARP / Neighbor Solicitations for it answered, as for ``ip``.
    ``icmp``: also take the ICMP(v6) errors about TCP sent to ``ip`` (queued in ``icmp_pending``): the
    responder on the wire acts on them as the in-process one does.
    """

    def __init__(self, iface: str, ip: str, *, answer_arp: bool = True, netns: str | None = None,
                 peer_ip: str | None = None, icmp: bool = False, peer_alt: str | None = None,
                 also: str | None = None) -> None:
        self.iface = iface
        self.ip = str(ipaddress.ip_address(ip))  # canonical text: segments' addresses are compared as text
        self.ipv6 = ":" in self.ip
        self.peer_ip = str(ipaddress.ip_address(peer_ip)) if peer_ip else None
        self.own = frozenset(str(ipaddress.ip_address(a)) for a in (ip, also) if a)
        """The endpoint's addresses: TCP to them is its own."""
        zero = unspecified(self.ip) if peer_ip and peer_alt else None
        self.peers = frozenset(str(ipaddress.ip_address(a)) for a in (peer_ip, peer_alt, zero) if a)
        """The addresses TCP is admitted from, whatever its destination (none: TCP to ``ip`` only)."""
        self.answer_arp = answer_arp
        self.netns = netns
        self.pending: deque[Received] = deque()
        """Segments for this endpoint, as they arrived: at the kernel's receive time, with their frames."""
        self.icmp = icmp
        self.icmp_pending: deque[tuple[IcmpError, float]] = deque()
        """With ``icmp``: the errors about TCP that arrived for this address, with their kernel times."""
        self.stats = {"sent": 0, "received": 0, "arp_answered": 0, "nd_answered": 0, "bad_checksum": 0,
                      "unverifiable_checksum": 0}
        # The program of filter_expression's expression, made without libpcap (and without Scapy's import).
        self.packets = PacketSocket(iface, endpoint_filter(self.ip, peer_ip, icmp, peer_alt, also), self._handle, netns=netns)
        self.sock = self.packets.sock
        self.mac = self.packets.mac
        self._resolver = Neighbours(iface, self.ip, self.mac, self.send_frame, self.stats, answer=answer_arp,
                                    also=str(ipaddress.ip_address(also)) if also else None)
        self.neighbours = self._resolver.table
        """IP address (canonical text) to MAC, of every neighbour seen."""

    @staticmethod
    def filter_expression(ip: str, peer_ip: str | None = None, icmp: bool = False, peer_alt: str | None = None,
                          also: str | None = None) -> str:
        """The BPF filter (pcap syntax): address resolution, and TCP to ``ip`` or ``also`` (with
        ``peer_ip``: TCP from ``peer_ip``, or ``peer_alt``, to any address); with ``icmp``, ICMP to
        ``ip`` as well (ICMPv6 is always admitted: Neighbor Discovery)."""
        hosts = f"src host {peer_ip}" if peer_ip else f"dst host {ip}"
        if peer_ip and peer_alt:
            hosts = f"(src host {peer_ip} or src host {peer_alt} or src host {unspecified(ip)})"
        elif not peer_ip and also:
            hosts = f"(dst host {ip} or dst host {also})"
        tcp = f"tcp and {hosts}"
        if ":" in ip:
            # Neighbor Discovery has no extension headers: plain icmp6.  TCP behind one Destination
            # Options header too (an IP-options case's segment, for the responder on the wire).
            return f"icmp6 or (ip6 and {hosts} and (tcp or (ip6[6] == 60 and ip6[40] == 6)))"
        return f"arp or ({tcp})" + (f" or (icmp and dst host {ip})" if icmp else "")

    def fileno(self) -> int:
        return self.packets.fileno()

    # -- sending ---------------------------------------------------------------------------------
    def send_frame(self, frame: bytes) -> float:
        """Send a frame; returns the time just before it was handed to the kernel."""
        at = self.packets.send(frame)
        self.stats["sent"] += 1
        return at

    def send(self, seg: Segment, timeout: float = 1.0, via: str | None = None) -> Sent:
        """Send ``seg`` to the MAC of its destination, or of ``via`` (a group address's segment goes
        to one host's MAC, as a case about it means)."""
        hop = via or seg.dst
        mac = self.neighbours.get(hop) or self.resolve(hop, timeout)  # known: the one lookup of nearly every send
        frame = encode(seg, self.mac, mac)
        return Sent(self.send_frame(frame), frame)  # the exact bytes, for the pcap

    def send_icmp(self, message: IcmpError, timeout: float = 1.0) -> Sent:
        """An ICMP(v6) error to its destination's MAC, from this endpoint's, as its first-hop router's would come."""
        mac = self.neighbours.get(message.dst) or self.resolve(message.dst, timeout)
        frame = encode_icmp(message, self.mac, mac)
        return Sent(self.send_frame(frame), frame)

    def resolve(self, ip: str, timeout: float = 1.0, tries: int = 3) -> str:
        """The MAC of ``ip`` on this link: learnt from its frames, else asked for by ARP or, over
        IPv6, by a Neighbor Solicitation to its solicited-node multicast group."""
        return self._resolver.resolve(ip, self.poll, timeout, tries)

    # -- receiving -------------------------------------------------------------------------------
    def poll(self, timeout: float) -> bool:
        """Read what the kernel has (waiting up to ``timeout``); TCP for us goes to ``pending``."""
        return self.packets.poll(timeout)

    def dropped(self) -> int:
        """Frames the filter admitted that the kernel had to drop since the socket opened (ring or
        queue full): a segment the tester never saw, so a case waiting for it may have failed for it."""
        return self.packets.dropped()

    def discard(self) -> None:
        """Drop every frame received and not yet read."""
        self.poll(0)
        self.pending.clear()

    def _handle(self, data: bytes, at: float, summed: bool) -> None:
        """A frame read, at its kernel time; ``summed``: whether the kernel says its checksum was
        computed at all (if not, the field holds none, and the segment's checksum is unverifiable)."""
        got = tcp_segment(data)
        if got is None:
            error = parse_icmp(data) if self.icmp else None
            if error is not None and error.dst in self.own:
                self.icmp_pending.append((error, at))
                return
            self._resolver.handle(data)
            return
        seg, checksum_ok = got
        if seg.dst not in self.own and seg.src not in self.peers:
            return
        if seg.src not in self.neighbours:
            self.neighbours[seg.src] = data[6:12].hex(":")
        stats = self.stats
        stats["received"] += 1
        checksum: Checksum = "ok"
        if not summed:
            checksum = "unverifiable"
            stats["unverifiable_checksum"] += 1
        elif not checksum_ok:
            checksum = "wrong"
            stats["bad_checksum"] += 1
        self.pending.append(Received(seg, at, data, checksum))

    def close(self) -> None:
        self.packets.close()


class RawSocketLink:
    """The engine's link over a :class:`RawEndpoint`: segments from the target's address, or its
    second one (``alt_ip``), each segment to the MAC of the one it is for."""

    name = "raw-socket"
    clock: Clock = "kernel"

    def __init__(self, endpoint: RawEndpoint, target_ip: str, alt_ip: str | None = None) -> None:
        self.endpoint = endpoint
        self.local_ip = endpoint.ip
        self.target_ip = str(ipaddress.ip_address(target_ip))
        self.alt_ip = str(ipaddress.ip_address(alt_ip)) if alt_ip else None
        self._sources = frozenset(a for a in (self.target_ip, self.alt_ip, alt_ip and unspecified(target_ip)) if a)
        self.sent = 0
        self.received = 0
        endpoint.resolve(self.target_ip)
        if self.alt_ip is not None:
            endpoint.resolve(self.alt_ip)

    def now(self) -> float:
        return time.time()  # the clock of the kernel's receive timestamps

    def send(self, segment: Segment) -> Sent:
        self.sent += 1
        return self.endpoint.send(segment, via=segment.dst if segment.dst == self.alt_ip else self.target_ip)

    def send_icmp(self, message: IcmpError) -> Sent:
        self.sent += 1
        return self.endpoint.send_icmp(message)

    def receive(self, timeout: float) -> Received | None:
        pending = self.endpoint.pending
        deadline = None
        while True:
            while pending:
                item = pending.popleft()
                if item.segment.src in self._sources:
                    self.received += 1
                    return item
            now = time.time()
            if deadline is None:  # only once there is nothing queued: most calls find something
                deadline = now + max(0.0, timeout)
            left = deadline - now
            if left <= 0:
                return None
            self.endpoint.poll(left)

    def dropped(self) -> int:
        """Frames the kernel dropped before the tester could read them."""
        return self.endpoint.dropped()

    def close(self) -> None:
        self.endpoint.close()

