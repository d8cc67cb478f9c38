"""The raw endpoint's kernel filter as a classic BPF program, made here rather than by libpcap.

A run against the lab opens one AF_PACKET socket, and its filter is the only thing it ever needed
libpcap (through Scapy) for: importing Scapy to compile one expression cost a tenth of a second of
every run's start.  The filter is always of one shape (:meth:`tcpconform.links.rawsock.RawEndpoint.filter_expression`
gives it in pcap syntax, for people to read), so it is built here from the same arguments.

Invariants: the program admits exactly the frames libpcap's program for that expression admits
(tests/links/test_bpf.py runs both over the same frames where libpcap is at hand); it reads Ethernet
frames without VLAN tags (the lab's veth and a device's interface deliver none to the socket), and
uses only absolute loads, equality jumps and returns, so every jump is forward and short (the
programs are a few dozen instructions; a jump over more than 255 is refused, never wrapped).
"""

from __future__ import annotations

import ctypes
import ipaddress
import struct
from dataclasses import dataclass

__all__ = ["Program", "endpoint_filter", "fprog"]

LD_W, LD_H, LD_B = 0x20, 0x28, 0x30  # BPF_LD | size | BPF_ABS
JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
RET = 0x06  # BPF_RET | BPF_K
SNAPLEN = 65535
"""What an admitted frame is cut to: libpcap's program returned the same, and no frame on an
interface this tester uses is longer."""

ETH_IP, ETH_ARP, ETH_IPV6 = 0x0800, 0x0806, 0x86DD
IP_PROTO, IP_SRC, IP_DST = 23, 26, 30  # offsets in the frame: 14 bytes of Ethernet header first
IP6_NEXT, IP6_SRC, IP6_DST, IP6_AFTER = 20, 22, 38, 54
NEXT_FRAGMENT, NEXT_DSTOPTS = 44, 60

Instruction = tuple[int, int, int, int]
"""``(code, jt, jf, k)``: one ``struct sock_filter``."""
Program = list[Instruction]


@dataclass(frozen=True)
class _Test:
    size: int  # LD_W, LD_H or LD_B
    offset: int
    value: int


@dataclass(frozen=True)
class _All:
    parts: tuple[_Node, ...]


@dataclass(frozen=True)
class _Any:
    parts: tuple[_Node, ...]


_Node = _Test | _All | _Any


def _ether(kind: int) -> _Test:
    return _Test(LD_H, 12, kind)


def _host(ip: str, offset6: int, offset4: int) -> _Node:
    """The address at the source or destination field is ``ip`` (IPv6: four words)."""
    packed = ipaddress.ip_address(ip).packed
    if len(packed) == 4:
        return _Test(LD_W, offset4, int.from_bytes(packed, "big"))
    return _All(tuple(_Test(LD_W, offset6 + 4 * i, int.from_bytes(packed[4 * i:4 * i + 4], "big")) for i in range(4)))


def _ip6_proto(proto: int) -> _Node:
    """libpcap's ``ip6 proto P``: the first next header, or the one after a fragment header."""
    return _Any((_Test(LD_B, IP6_NEXT, proto), _All((_Test(LD_B, IP6_NEXT, NEXT_FRAGMENT), _Test(LD_B, IP6_AFTER, proto)))))


def _tree(ip: str, peer_ip: str | None, icmp: bool, peer_alt: str | None, also: str | None) -> _Node:
    """The filter of :meth:`RawEndpoint.filter_expression`, the same arguments, as a tree."""
    zero = "::" if ":" in ip else "0.0.0.0"
    if peer_ip:
        srcs = (peer_ip, peer_alt, zero) if peer_alt else (peer_ip,)
        hosts = _Any(tuple(_host(a, IP6_SRC, IP_SRC) for a in srcs))
    else:
        hosts = _Any(tuple(_host(a, IP6_DST, IP_DST) for a in ((ip, also) if also else (ip,))))
    if ":" in ip:
        tcp = _Any((_ip6_proto(6), _All((_Test(LD_B, IP6_NEXT, NEXT_DSTOPTS), _Test(LD_B, IP6_AFTER, 6)))))
        return _All((_ether(ETH_IPV6), _Any((_ip6_proto(58), _All((hosts, tcp))))))
    parts: list[_Node] = [_ether(ETH_ARP), _All((_ether(ETH_IP), _Test(LD_B, IP_PROTO, 6), hosts))]
    if icmp:
        parts.append(_All((_ether(ETH_IP), _Test(LD_B, IP_PROTO, 1), _host(ip, IP6_DST, IP_DST))))
    return _Any(tuple(parts))


class _Label:
    at: int = -1


def _emit(node: _Node, yes: _Label, no: _Label, out: list[tuple[int, int, _Label | int, _Label | int, int] | _Label]) -> None:
    """Code that goes to ``yes`` if ``node`` holds, else to ``no`` (labels placed later, always after)."""
    if isinstance(node, _Test):
        out.append((node.size, node.offset, 0, 0, 0))
        out.append((JEQ, node.value, yes, no, 0))
        return
    for i, part in enumerate(node.parts):
        if i == len(node.parts) - 1:
            _emit(part, yes, no, out)
            return
        nxt = _Label()
        if isinstance(node, _All):
            _emit(part, nxt, no, out)
        else:
            _emit(part, yes, nxt, out)
        out.append(nxt)


def _assemble(node: _Node) -> Program:
    accept, reject = _Label(), _Label()
    code: list[tuple[int, int, _Label | int, _Label | int, int] | _Label] = []
    _emit(node, accept, reject, code)
    code += [accept, (RET, SNAPLEN, 0, 0, 0), reject, (RET, 0, 0, 0, 0)]
    pc = 0
    for item in code:
        if isinstance(item, _Label):
            item.at = pc
        else:
            pc += 1
    program: Program = []
    for item in code:
        if isinstance(item, _Label):
            continue
        op, k, jt, jf, _ = item
        if op != JEQ:
            program.append((op, 0, 0, k))  # a load (k: the offset) or a return (k: the length kept)
            continue
        here = len(program) + 1
        offsets = [lab.at - here if isinstance(lab, _Label) else 0 for lab in (jt, jf)]
        if any(not 0 <= o <= 255 for o in offsets):
            raise ValueError(f"BPF filter too long for a jump of {max(offsets)} instructions")
        program.append((JEQ, offsets[0], offsets[1], k))
    return program


def endpoint_filter(ip: str, peer_ip: str | None = None, icmp: bool = False, peer_alt: str | None = None,
                    also: str | None = None) -> Program:
    """The program of :meth:`tcpconform.links.rawsock.RawEndpoint.filter_expression` for the same arguments."""
    return _assemble(_tree(ip, peer_ip, icmp, peer_alt, also))


def fprog(program: Program) -> tuple[bytes, ctypes.Array[ctypes.c_char]]:
    """``struct sock_fprog`` for ``SO_ATTACH_FILTER``, and the buffer it points into (keep it alive
    until the option is set: the kernel copies the program then)."""
    body = b"".join(struct.pack("=HBBI", code, jt, jf, k & 0xFFFFFFFF) for code, jt, jf, k in program)
    buf = ctypes.create_string_buffer(body, len(body))
    return struct.pack("HP", len(program), ctypes.addressof(buf)), buf
