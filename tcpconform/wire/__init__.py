"""Segments to Ethernet frames and back: the one place a :class:`~tcpconform.segment.Segment` meets bytes.

Both directions are plain ``struct`` (:mod:`tcpconform.frames` builds, :mod:`tcpconform.framedecode`
reads), so a segment sent or received never pays for Scapy.  :func:`decode_scapy` keeps the Scapy
dissection the decoder replaced, as the reference it is tested and benchmarked against.  Option
names and values are Scapy's, value-less options (``NOP``, ``EOL``, ``SAckOK``) carrying ``None``.
"""

from __future__ import annotations

import functools
import socket
import struct
from typing import Any

from tcpconform.tcp.segment import Flags, Segment
from tcpconform.wire.decode import ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, Arp, Frame, Icmp6
from tcpconform.wire.decode import decode as decode
from tcpconform.wire.encode import malformed_at

__all__ = ["ETH_P_ARP", "ETH_P_IP", "ETH_P_IPV6", "Arp", "Frame", "Icmp6", "decode", "decode_scapy", "encode",
           "encode_arp"]

_VALUELESS = {"NOP", "EOL", "SAckOK"}


def encode(seg: Segment, src_mac: str, dst_mac: str) -> bytes:
    """The Ethernet frame carrying ``seg``: :func:`tcpconform.frames.encode` (struct, byte-identical to
    what Scapy builds, tested), so sending a segment never pays for Scapy's packet assembly."""
    from tcpconform.wire.encode import encode as build

    return build(seg, _mac(src_mac), _mac(dst_mac))


@functools.lru_cache(maxsize=256)
def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


_ARP = struct.Struct("!6s6sHHHBBH6s4s6s4s")


def encode_arp(op: int, src_mac: str, src_ip: str, dst_mac: str, dst_ip: str) -> bytes:
    """An ARP request (broadcast, ``op`` 1) or reply (2) for IPv4 over Ethernet, as Scapy builds it."""
    eth_dst = b"\xff" * 6 if op == 1 else _mac(dst_mac)
    hwdst = _mac(dst_mac) if op == 2 else bytes(6)
    return _ARP.pack(eth_dst, _mac(src_mac), ETH_P_ARP, 1, ETH_P_IP, 6, 4, op, _mac(src_mac),
                     socket.inet_aton(src_ip), hwdst, socket.inet_aton(dst_ip))


# -- the reference: Scapy's dissection ---------------------------------------------------------------
def _scapy() -> Any:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import ARP, Ether

    return Ether, IP, IPv6, TCP, ARP


def _from_scapy_options(options: list[tuple[Any, Any]]) -> tuple[tuple[str, Any], ...]:
    from scapy.packet import Packet

    out: list[tuple[str, Any]] = []
    for kind, value in options:
        if isinstance(kind, int):
            out.append((str(kind), bytes(value) if value is not None else b""))
        elif kind in _VALUELESS:
            out.append((kind, None))
        elif isinstance(value, Packet):  # TCP-AO's value: a segment carries bytes, never Scapy objects
            out.append((kind, value.original))
        else:
            out.append((kind, tuple(value) if isinstance(value, list) else value))
    return tuple(out)


def decode_scapy(data: bytes) -> Frame | None:
    """:func:`decode` done by Scapy's dissector: slower by an order of magnitude, kept as its reference.

    Only the layers directly on Ethernet count, as the link's kernel filter admits them: a TCP
    header inside a tunnel, a VLAN or an 802.3 frame is not a segment of the run.
    """
    Ether, IP, IPv6, TCP, ARP = _scapy()
    try:
        pkt = Ether(data)
    except Exception:  # a truncated or garbled frame is not ours to explain
        return None
    if type(pkt) is not Ether:
        return None
    ip = pkt.payload
    if type(ip) is ARP:
        return Frame(pkt.src, pkt.dst, arp=Arp(int(ip.op), ip.hwsrc, ip.psrc, ip.hwdst, ip.pdst))
    if type(ip) is IPv6 and ip.nh == 58:
        return Frame(pkt.src, pkt.dst, icmp6=Icmp6(ip.src, ip.dst, ip.hlim, bytes(ip.payload)[: ip.plen]))
    tcp = ip.payload
    if type(ip) not in (IP, IPv6) or type(tcp) is not TCP:
        return None
    if type(ip) is IP and ip.ihl < 5:  # Scapy reads on regardless, taking TCP from the frame's last bytes
        return None
    length = ip.len - ip.ihl * 4 if type(ip) is IP else ip.plen
    payload = bytes(tcp.payload)[: max(0, length - tcp.dataofs * 4)]  # strip Ethernet padding
    seg = Segment(
        src=ip.src, dst=ip.dst, sport=tcp.sport, dport=tcp.dport, seq=tcp.seq, ack=tcp.ack,
        flags=Flags(int(tcp.flags)), window=tcp.window, urgptr=tcp.urgptr,
        options=_options(tcp, data, 14 + (ip.ihl * 4 if type(ip) is IP else 40), length), payload=payload,
        reserved=tcp.reserved,
        chksum=tcp.chksum, dataofs=tcp.dataofs,
    )
    return Frame(pkt.src, pkt.dst, segment=seg, checksum_ok=_tcp_checksum_ok(ip, tcp, length))


def _options(tcp: Any, data: bytes, start: int, length: int) -> tuple[tuple[str, Any], ...]:
    """The segment's options; a list that does not parse stays bytes, as it came (``raw``): the
    header's option bytes, as far as the frame and the IP length reach."""
    tcp_end = min(len(data), start + length) if length >= 0 else len(data)
    raw_options = data[start + 20: min(start + tcp.dataofs * 4, tcp_end)]
    if malformed_at(raw_options) is not None:
        return (("raw", raw_options),)
    return _from_scapy_options(tcp.options)


def _tcp_checksum_ok(ip: Any, tcp: Any, length: int) -> bool:
    """Whether the TCP checksum, pseudo-header included, adds up (offloads can leave it partial)."""
    from scapy.layers.inet import IP, in4_chksum
    from scapy.layers.inet6 import in6_chksum

    raw = bytes(tcp)[:length]
    check = in4_chksum if isinstance(ip, IP) else in6_chksum
    return bool(check(6, ip, raw) == 0)
