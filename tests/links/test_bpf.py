"""The endpoint's BPF program admits exactly what libpcap's program for its expression admits."""

from __future__ import annotations

import ipaddress
import itertools
import struct

import pytest

from tcpconform.links.bpf import JEQ, LD_B, LD_H, LD_W, RET, Program, endpoint_filter, fprog
from tcpconform.links.rawsock import RawEndpoint


def run(program: Program, frame: bytes) -> int:
    """A classic BPF machine for the instructions both programs use: what the filter keeps of ``frame``."""
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        k &= 0xFFFFFFFF
        if code in (LD_W, LD_H, LD_B):
            size = {LD_W: 4, LD_H: 2, LD_B: 1}[code]
            if k + size > len(frame):
                return 0  # the kernel's out-of-bounds load: the frame is dropped
            acc = int.from_bytes(frame[k:k + size], "big")
            pc += 1
        elif code == JEQ:
            pc += 1 + (jt if acc == k else jf)
        elif code == RET:
            return k
        else:
            raise AssertionError(f"instruction {code:#x} not modelled")


def frames(v6: bool, addrs: list[str]) -> list[bytes]:
    out = []
    if v6:
        for nh, after, src, dst in itertools.product((6, 58, 44, 60, 17), (6, 58, 17), addrs, addrs):
            hdr = struct.pack("!IHBB", 0x60000000, 40, nh, 64) + ipaddress.ip_address(src).packed \
                + ipaddress.ip_address(dst).packed
            for eth in (0x86DD, 0x0800):
                out.append(b"\x02" * 12 + struct.pack("!H", eth) + hdr + bytes([after]) + b"\0" * 39)
        return out
    for eth, proto, src, dst in itertools.product((0x0800, 0x0806, 0x86DD), (6, 1, 17), addrs, addrs):
        hdr = struct.pack("!BBHHHBBH", 0x45, 0, 40, 0, 0, 64, proto, 0) + ipaddress.ip_address(src).packed \
            + ipaddress.ip_address(dst).packed
        out.append(b"\x02" * 12 + struct.pack("!H", eth) + hdr + b"\0" * 20)
    out.append(b"\x02" * 12 + b"\x08\x06")  # a runt: no load may read past it
    return out


CASES = [
    ("198.18.45.1", "198.18.45.2", False, "198.18.45.4", None),
    ("198.18.45.1", "198.18.45.2", False, None, None),
    ("198.18.45.3", None, True, None, "198.18.45.5"),
    ("198.18.45.3", None, False, None, None),
    ("fd00:7c:45::1", "fd00:7c:45::2", False, "fd00:7c:45::4", None),
    ("fd00:7c:45::3", None, True, None, "fd00:7c:45::5"),
]


def libpcap(expression: str) -> Program:
    common = pytest.importorskip("scapy.arch.common")
    try:
        prog = common.compile_filter(expression, linktype=1)
    except Exception as err:  # no libpcap on this machine
        pytest.skip(f"libpcap: {err}")
    return [(prog.bf_insns[i].code, prog.bf_insns[i].jt, prog.bf_insns[i].jf, prog.bf_insns[i].k) for i in range(prog.bf_len)]


@pytest.mark.parametrize("args", CASES)
def test_same_frames_as_libpcap(args: tuple[str, str | None, bool, str | None, str | None]) -> None:
    ip, peer, icmp, alt, also = args
    ours = endpoint_filter(ip, peer, icmp, alt, also)
    theirs = libpcap(RawEndpoint.filter_expression(ip, peer, icmp, alt, also))
    other = ("::", "fd00:7c:45::9") if ":" in ip else ("0.0.0.0", "198.18.45.9")
    addrs = [a for a in {ip, peer, alt, also, *other} if a]
    tried = frames(":" in ip, addrs)
    admitted = [f for f in tried if run(theirs, f)]
    assert admitted and len(admitted) < len(tried)  # the frames tell the filters apart
    assert [bool(run(ours, f)) for f in tried] == [bool(run(theirs, f)) for f in tried]


def test_fprog_packs_the_program() -> None:
    program = endpoint_filter("198.18.45.1", "198.18.45.2")
    option, buf = fprog(program)
    assert struct.unpack("HP", option)[0] == len(program) and len(buf) == 8 * len(program)
