"""Scapy's dissection of a frame, as the reference :func:`tcpconform.wire.decode` is held to.

Slower by an order of magnitude and never on a run's path: the benchmark measures the decoder
against it, and the tests check the decoder answers what it answers, value for value.
"""

from __future__ import annotations

from typing import Any

from scapy.layers.inet import IP, TCP, in4_chksum
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop, in6_chksum
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet

from tcpconform.tcp.ip import IpHeader
from tcpconform.tcp.options import BY_NAME, RAW
from tcpconform.tcp.segment import Flags, Option, Segment
from tcpconform.wire.arp import Arp
from tcpconform.wire.frame import Frame, Icmp6
from tcpconform.wire.tcp import after_eol, malformed_at


def decode_scapy(data: bytes) -> Frame | None:
    """:func:`tcpconform.wire.decode` done by Scapy's dissector.

    Only the layers directly on Ethernet count, as the link's kernel filter admits them: a TCP
    header inside a tunnel, a VLAN or an 802.3 frame is not a segment of the run.
    """
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
    tcp, ext, dest = ip.payload, 0, None
    while type(tcp) in (IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt):
        size = (tcp.len + 1) * 8
        if type(tcp) is IPv6ExtHdrDestOpt:
            dest = _strip_padding6(bytes(tcp)[2:size])
        tcp, ext = tcp.payload, ext + size
    if type(ip) not in (IP, IPv6) or type(tcp) is not TCP:
        return None
    if type(ip) is IP and ip.ihl < 5:  # Scapy reads on regardless, taking TCP from the frame's last bytes
        return None
    length = ip.len - ip.ihl * 4 if type(ip) is IP else ip.plen - ext
    fields = None
    if type(ip) is IP and (ip.ihl > 5 or ip.tos & 3):  # options, or ECN bits for TCP to read
        fields = IpHeader(ip.ttl, ip.tos, _strip_padding4(data[34:14 + ip.ihl * 4]))
    elif type(ip) is IPv6 and (ext or ip.tc & 3):
        fields = IpHeader(ip.hlim, ip.tc, b"", dest)
    payload = bytes(tcp.payload)[: max(0, length - tcp.dataofs * 4)]  # strip Ethernet padding
    start = 14 + (ip.ihl * 4 if type(ip) is IP else 40 + ext)
    options = _options(tcp, data, start, length)
    seg = Segment(
        src=ip.src, dst=ip.dst, sport=tcp.sport, dport=tcp.dport, seq=tcp.seq, ack=tcp.ack,
        flags=Flags(int(tcp.flags)), window=tcp.window, urgptr=tcp.urgptr,
        options=options, payload=payload, reserved=tcp.reserved, chksum=tcp.chksum, dataofs=tcp.dataofs,
        eol_tail=_eol_tail(options, _raw_options(tcp, data, start, length)), ip=fields,
    )
    return Frame(pkt.src, pkt.dst, segment=seg, checksum_ok=_tcp_checksum_ok(ip, tcp, length))


def _eol_tail(options: tuple[Option, ...], raw: bytes) -> bytes:
    """The option bytes after an EOL when one is not zero, as :func:`tcpconform.wire.decode` keeps them
    (Scapy's own list ends at the EOL)."""
    at = after_eol(raw) if options and options[-1][0] == "EOL" else None
    tail = raw[at:] if at is not None else b""
    return tail if any(tail) else b""


def _strip_padding4(options: bytes) -> bytes:
    """IPv4 option bytes up to the first end-of-list kind that starts an option (RFC 791 3.1)."""
    at = 0
    while at < len(options):
        if options[at] == 0:
            return options[:at]
        length = 1 if options[at] == 1 else (options[at + 1] if at + 1 < len(options) else 2)
        at += max(length, 2) if options[at] != 1 else 1
    return options


def _strip_padding6(options: bytes) -> bytes:
    """IPv6 option bytes up to the end of the last option that is no padding (RFC 8200 4.2)."""
    at, end = 0, 0
    while at < len(options):
        kind = options[at]
        at += 1 if kind == 0 else 2 + (options[at + 1] if at + 1 < len(options) else 0)
        end = at if kind > 1 else end
    return options[:end]


def _from_scapy_options(options: list[tuple[Any, Any]]) -> tuple[Option, ...]:
    """Scapy's option list as a segment holds it: valueless kinds ``None``, unnamed kinds by number."""
    out: list[Option] = []
    for kind, value in options:
        if isinstance(kind, int):
            out.append((str(kind), bytes(value) if value is not None else b""))
        elif kind in BY_NAME and BY_NAME[kind].valueless:
            out.append((kind, None))
        elif isinstance(value, Packet):  # TCP-AO's value: a segment carries bytes, never Scapy objects
            out.append((kind, value.original))
        else:
            out.append((kind, tuple(value) if isinstance(value, list) else value))
    return tuple(out)


def _raw_options(tcp: Any, data: bytes, start: int, length: int) -> bytes:
    """The header's option bytes, as far as the frame and the IP length reach."""
    tcp_end = min(len(data), start + length) if length >= 0 else len(data)
    return data[start + 20: min(start + tcp.dataofs * 4, tcp_end)]


def _options(tcp: Any, data: bytes, start: int, length: int) -> tuple[Option, ...]:
    """The segment's options; a list that does not parse stays bytes, as it came (``raw``)."""
    raw_options = _raw_options(tcp, data, start, length)
    if malformed_at(raw_options) is not None:
        return ((RAW, raw_options),)
    return _from_scapy_options(tcp.options)


def _tcp_checksum_ok(ip: Any, tcp: Any, length: int) -> bool:
    """Whether the TCP checksum, pseudo-header included, adds up (offloads can leave it partial)."""
    raw = bytes(tcp)[:length]
    check = in4_chksum if isinstance(ip, IP) else in6_chksum
    return bool(check(6, ip, raw) == 0)
