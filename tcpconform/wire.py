"""Segments to Ethernet frames and back, with Scapy.

This is the one place where the project's :class:`~tcpconform.segment.Segment` meets bytes on a wire,
so Scapy is imported here and only when a frame is first built or parsed (the CLI's ``--help`` and
in-process runs never pay for it).  IPv6 frames carry TCP or Neighbor Discovery (:mod:`tcpconform.ndp`).
Option names and values are Scapy's, normalised so that
value-less options (``NOP``, ``EOL``, ``SAckOK``) carry ``None`` both ways.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .frames import malformed_at
from .segment import Flags, Segment

if TYPE_CHECKING:
    from .ndp import Neighbour

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
_VALUELESS = {"NOP", "EOL", "SAckOK"}


@dataclass(frozen=True, slots=True)
class Arp:
    op: int
    """1 request, 2 reply."""
    hwsrc: str
    psrc: str
    hwdst: str
    pdst: str


def _scapy() -> Any:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6  # noqa: F401  binds ethertype 0x86DD, so Ether() parses IPv6
    from scapy.layers.l2 import ARP, Ether

    return Ether, IP, TCP, ARP


def _from_scapy_options(options: list[tuple[Any, Any]]) -> tuple[tuple[str, Any], ...]:
    out: list[tuple[str, Any]] = []
    for kind, value in options:
        if isinstance(kind, int):
            out.append((str(kind), bytes(value) if value is not None else b""))
        elif kind in _VALUELESS:
            out.append((kind, None))
        else:
            out.append((kind, tuple(value) if isinstance(value, list) else value))
    return tuple(out)


def encode(seg: Segment, src_mac: str, dst_mac: str) -> bytes:
    """The Ethernet frame carrying ``seg``: :func:`tcpconform.frames.encode` (struct, byte-identical to
    what Scapy builds, tested), so sending a segment never pays for Scapy's packet assembly."""
    from .frames import encode as build

    return build(seg, _mac(src_mac), _mac(dst_mac))


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def encode_arp(op: int, src_mac: str, src_ip: str, dst_mac: str, dst_ip: str) -> bytes:
    Ether, _, _, ARP = _scapy()
    eth_dst = "ff:ff:ff:ff:ff:ff" if op == 1 else dst_mac
    return bytes(Ether(src=src_mac, dst=eth_dst) / ARP(op=op, hwsrc=src_mac, psrc=src_ip,
                                                       hwdst=dst_mac if op == 2 else "00:00:00:00:00:00",
                                                       pdst=dst_ip))


@dataclass(frozen=True, slots=True)
class Frame:
    src_mac: str
    dst_mac: str
    segment: Segment | None = None
    arp: Arp | None = None
    checksum_ok: bool = True
    nd: Neighbour | None = None
    """A Neighbor Solicitation or Advertisement (IPv6's ARP)."""


def decode(data: bytes) -> Frame | None:
    """The TCP segment, ARP or Neighbor Discovery message in an Ethernet frame; ``None`` for anything else."""
    Ether, IP, TCP, ARP = _scapy()
    try:
        pkt = Ether(data)
    except Exception:  # a truncated or garbled frame is not ours to explain
        return None
    if pkt.type == ETH_P_IPV6:
        return _decode_ipv6(pkt)
    if ARP in pkt:
        a = pkt[ARP]
        return Frame(pkt.src, pkt.dst, arp=Arp(int(a.op), a.hwsrc, a.psrc, a.hwdst, a.pdst))
    if IP not in pkt or TCP not in pkt:
        return None
    ip, tcp = pkt[IP], pkt[TCP]
    payload = bytes(tcp.payload)
    ip_payload_len = ip.len - ip.ihl * 4
    payload = payload[: max(0, ip_payload_len - tcp.dataofs * 4)]  # strip Ethernet padding
    seg = Segment(
        src=ip.src, dst=ip.dst, sport=tcp.sport, dport=tcp.dport, seq=tcp.seq, ack=tcp.ack,
        flags=Flags(int(tcp.flags)), window=tcp.window, urgptr=tcp.urgptr,
        options=_options(tcp), payload=payload, reserved=tcp.reserved,
        chksum=tcp.chksum, dataofs=tcp.dataofs,
    )
    return Frame(pkt.src, pkt.dst, segment=seg, checksum_ok=_tcp_checksum_ok(ip, tcp))


def _options(tcp: Any) -> tuple[tuple[str, Any], ...]:
    """The segment's options; a list that does not parse stays bytes, as it came (``raw``)."""
    raw_options = bytes(tcp)[20: tcp.dataofs * 4]
    if malformed_at(raw_options) is not None:
        return (("raw", raw_options),)
    return _from_scapy_options(tcp.options)


def _decode_ipv6(pkt: Any) -> Frame | None:
    """TCP or Neighbor Discovery directly after the IPv6 header (no extension headers: the tester
    never sends any, and a target's segment with one is not what a conformance run expects)."""
    from scapy.layers.inet import TCP
    from scapy.layers.inet6 import IPv6

    from .frames import internet_checksum
    from .ndp import ICMPV6, parse

    if IPv6 not in pkt:
        return None
    ip = pkt[IPv6]
    raw = bytes(ip.payload)[: ip.plen]  # strip Ethernet padding
    if ip.nh == ICMPV6:
        nd = parse(raw, ip.src, ip.dst, ip.hlim)
        return Frame(pkt.src, pkt.dst, nd=nd) if nd is not None else None
    if ip.nh != 6 or TCP not in pkt:
        return None
    tcp = pkt[TCP]
    seg = Segment(
        src=ip.src, dst=ip.dst, sport=tcp.sport, dport=tcp.dport, seq=tcp.seq, ack=tcp.ack,
        flags=Flags(int(tcp.flags)), window=tcp.window, urgptr=tcp.urgptr,
        options=_options(tcp), payload=bytes(tcp.payload)[: max(0, len(raw) - tcp.dataofs * 4)],
        reserved=tcp.reserved, chksum=tcp.chksum, dataofs=tcp.dataofs,
    )
    pseudo = (ipaddress.IPv6Address(ip.src).packed + ipaddress.IPv6Address(ip.dst).packed
              + struct.pack("!I3xB", len(raw), 6))  # RFC 8200 8.1
    return Frame(pkt.src, pkt.dst, segment=seg, checksum_ok=internet_checksum(pseudo + raw) == 0)


def _tcp_checksum_ok(ip: Any, tcp: Any) -> bool:
    """Whether the TCP checksum, pseudo-header included, adds up (offloads can leave it partial)."""
    from scapy.layers.inet import in4_chksum

    raw = bytes(tcp)[: ip.len - ip.ihl * 4]
    return bool(in4_chksum(6, ip, raw) == 0)
