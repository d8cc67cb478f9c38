"""ARP (RFC 826) for IPv4 over Ethernet: the request and reply the tester sends, and any ARP it reads."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from socket import AF_INET6, inet_ntoa, inet_ntop
from typing import Any

from tcpconform.wire.ethernet import ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, HEADER_LEN, mac_bytes, mac_text

_FRAME = struct.Struct("!6s6sHHHBBH6s4s6s4s")
"""An Ethernet frame carrying an ARP message for IPv4 over Ethernet."""
_HEADER = struct.Struct("!HHBBH")
"""The fixed part of any ARP message: hardware and protocol types and lengths, operation."""
REQUEST, REPLY = 1, 2


@dataclass(frozen=True, slots=True)
class Arp:
    op: int
    """1 request, 2 reply."""
    hwsrc: str
    psrc: str
    hwdst: str
    pdst: str


def encode_arp(op: int, src_mac: str, src_ip: str, dst_mac: str, dst_ip: str) -> bytes:
    """An ARP request (broadcast, ``op`` 1) or reply (2) for IPv4 over Ethernet, as Scapy builds it."""
    eth_dst = b"\xff" * 6 if op == REQUEST else mac_bytes(dst_mac)
    hwdst = mac_bytes(dst_mac) if op == REPLY else bytes(6)
    return _FRAME.pack(eth_dst, mac_bytes(src_mac), ETH_P_ARP, 1, ETH_P_IP, 6, 4, op, mac_bytes(src_mac),
                       socket.inet_aton(src_ip), hwdst, socket.inet_aton(dst_ip))


def parse_arp(data: bytes) -> Arp | None:
    """The ARP message in an Ethernet frame, as Scapy reads it: addresses of a type and length it
    knows as text, any other as bytes; ``None`` if the frame is too short for them."""
    if len(data) < 22:
        return None
    hwtype, ptype, hwlen, plen, op = _HEADER.unpack_from(data, HEADER_LEN)
    i = 22
    fields: list[Any] = []
    for kind in ("hw", "p", "hw", "p"):
        size = hwlen if kind == "hw" else plen
        raw = data[i:i + size]
        if kind == "hw" and hwtype == 1 and hwlen == 6:
            if len(raw) < 6:
                return None
            fields.append(mac_text(raw))
        elif kind == "p" and ptype == ETH_P_IP and plen == 4:
            if len(raw) < 4:
                return None
            fields.append(inet_ntoa(raw))
        elif kind == "p" and ptype == ETH_P_IPV6 and plen == 16:
            if len(raw) < 16:
                return None
            fields.append(inet_ntop(AF_INET6, raw))
        else:
            fields.append(raw)
        i += size
    return Arp(op, *fields)
