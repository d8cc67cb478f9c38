"""The TCP state of a connection, asked of the Linux kernel (NETLINK_SOCK_DIAG) by exact 4-tuple.

The kernel lists every TCP socket of the network namespace, whatever holds it: sockets the
application no longer holds (orphans in LAST_ACK, FIN_WAIT_*, CLOSING, TIME_WAIT) and ones it does
not hold yet (SYN_RECV request socks) are seen as they are.  Addresses are compared as plain IPv4
when the kernel lists them IPv4-mapped (a dual-stack listener's IPv4 peers), so a 4-tuple matches
whichever family's socket carries it.  Only reading: nothing here changes a socket.

Hand-rolled rather than pyroute2's DiagSocket: that API is marked work-in-progress, cannot ask for
AF_INET6 and AF_INET alike without guessing, and costs a large import per agent start.
"""

from __future__ import annotations

import errno
import ipaddress
import itertools
import os
import socket
import struct
from typing import NamedTuple

from tcpconform.tcp.segment import FourTuple

LINUX_STATES = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RCVD", 4: "FIN_WAIT_1", 5: "FIN_WAIT_2", 6: "TIME_WAIT",
    7: "CLOSED", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING",
    12: "SYN_RCVD",  # TCP_NEW_SYN_RECV: the request sock that stands for a half-open connection
}
"""Linux's ``tcp_states.h`` numbers, by their RFC 9293 names."""
TCP_LISTEN = 10

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
_NLMSGHDR = struct.Struct("=IHHII")
_INET_DIAG_REQ_V2 = struct.Struct("=BBBxI48x")  # family, protocol, ext, pad, states, sockid (all zero)
_INET_DIAG_MSG_MIN = 72
ALL_STATES = 0xFFFFFFFF


class DiagEntry(NamedTuple):
    """One TCP socket as the kernel lists it, from its own side (local first)."""

    state: int
    local: str
    lport: int
    remote: str
    rport: int


_seq = itertools.count(1)


def unmap(ip: str) -> str:
    """IPv4-mapped IPv6 (a dual-stack listener's IPv4 peer) as plain IPv4, so tuples compare."""
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def dump_tcp(family: int) -> list[DiagEntry]:
    """Every TCP socket of this network namespace in ``family``, whatever its state (request socks
    and time-wait socks included: the kernel dumps them when their state bit is asked for)."""
    alen = 4 if family == socket.AF_INET else 16
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG) as nl:
        nl.bind((0, 0))
        seq = next(_seq)
        body = _INET_DIAG_REQ_V2.pack(family, socket.IPPROTO_TCP, 0, ALL_STATES)
        nl.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
                + body)
        out: list[DiagEntry] = []
        while True:
            data = nl.recv(1 << 16)
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, kind, _flags, mseq, _pid = _NLMSGHDR.unpack_from(data, offset)
                if length < _NLMSGHDR.size:
                    raise OSError(errno.EPROTO, "malformed netlink message from sock_diag")
                payload = data[offset + _NLMSGHDR.size: offset + length]
                offset += (length + 3) & ~3
                if mseq != seq:
                    continue
                if kind == NLMSG_DONE:
                    return out
                if kind == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload)[0]
                    if code:
                        raise OSError(code, f"sock_diag: {os.strerror(code)}")
                    continue
                if kind != SOCK_DIAG_BY_FAMILY or len(payload) < _INET_DIAG_MSG_MIN:
                    continue
                state = payload[1]
                sport, dport = struct.unpack_from(">HH", payload, 4)
                src = socket.inet_ntop(family, payload[8: 8 + alen])
                dst = socket.inet_ntop(family, payload[24: 24 + alen])
                out.append(DiagEntry(state, unmap(src), sport, unmap(dst), dport))


def family_of(ip: str) -> int:
    """The address family of ``ip`` (AF_INET or AF_INET6)."""
    return socket.AF_INET6 if ipaddress.ip_address(ip).version == 6 else socket.AF_INET


def lookup_state(entries: list[DiagEntry], key: FourTuple, existed: bool) -> str:
    """The connection's state by exact 4-tuple; without a socket: CLOSED if it existed, else LISTEN
    if its port listens (the reference responder answers the same way), else CLOSED."""
    for e in entries:
        if (e.lport, e.rport, e.local, e.remote) == (key.dport, key.sport, key.dst, key.src) and e.state != TCP_LISTEN:
            return LINUX_STATES.get(e.state, f"UNKNOWN({e.state})")
    if existed:
        return "CLOSED"
    wildcard = {"0.0.0.0", "::"}
    if any(e.state == TCP_LISTEN and e.lport == key.dport and (e.local == key.dst or e.local in wildcard)
           for e in entries):
        return "LISTEN"
    return "CLOSED"
