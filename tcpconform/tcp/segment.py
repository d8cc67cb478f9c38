"""The TCP segment as plain data, and its one-line rendering.

A :class:`Segment` is what crosses every link: the engine, the reference responder and the reports
all speak it, so none of them needs Scapy.  Field names follow Scapy's (``flags``, ``seq``, ``ack``,
``window``, ``urgptr``, ``options``) because that is the vocabulary users already know; option
names and value shapes are :mod:`tcpconform.tcp.options`'s, Scapy's too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from enum import IntFlag
from typing import Any, Literal, NamedTuple

from tcpconform.tcp.ip import IpHeader
from tcpconform.tcp.options import RAW, SPOKEN


class Flags(IntFlag):
    """TCP header flags, with the bit values of the wire format."""

    NONE = 0
    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    PSH = 0x08
    ACK = 0x10
    URG = 0x20
    ECE = 0x40
    CWR = 0x80
    AE = 0x100

    @classmethod
    def parse(cls, text: str) -> Flags:
        """Accept Scapy's letters (``SA``, ``FA``, ``PA``) or tcpdump's (``S.``, ``F.``, ``P.``, ``.``).

        Raises ``ValueError`` naming the offending character.
        """
        value = cls(0)
        for ch in text.strip():
            bit = _LETTER_TO_FLAG.get(ch)
            if bit is None:
                raise ValueError(f"unknown flag {ch!r} in {text!r} (known: F S R P A U E C N and '.' for ACK)")
            value |= bit
        return value

    def tcpdump(self) -> str:
        """tcpdump's rendering: ``S.`` for SYN+ACK, ``.`` for a bare ACK, ``none`` for no flag."""
        return _tcpdump(int(self))

    def scapy(self) -> str:
        """Scapy's rendering (``SA``, ``FA``...), in Scapy's letter order."""
        return _scapy(int(self))


_SCAPY_ORDER = [
    ("F", Flags.FIN), ("S", Flags.SYN), ("R", Flags.RST), ("P", Flags.PSH), ("A", Flags.ACK),
    ("U", Flags.URG), ("E", Flags.ECE), ("C", Flags.CWR), ("N", Flags.AE),
]
_TCPDUMP_ORDER = [
    ("S", Flags.SYN), ("F", Flags.FIN), ("R", Flags.RST), ("P", Flags.PSH),
    ("U", Flags.URG), ("E", Flags.ECE), ("W", Flags.CWR), ("N", Flags.AE),
]
_LETTER_TO_FLAG = {ch: bit for ch, bit in _SCAPY_ORDER} | {".": Flags.ACK, "W": Flags.CWR}


# Renderings are cached per flag value: they are on every report line, and IntFlag arithmetic is slow.
@functools.cache
def _tcpdump(value: int) -> str:
    out = "".join(ch for ch, bit in _TCPDUMP_ORDER if value & bit)
    if value & Flags.ACK:
        out += "."
    return out or "none"


@functools.cache
def _scapy(value: int) -> str:
    return "".join(ch for ch, bit in _SCAPY_ORDER if value & bit)

Option = tuple[str, Any]
"""One TCP option as Scapy spells it: ``("MSS", 512)``, ``("NOP", None)``, ``("Timestamp", (v, e))``.

Unknown kinds are ``(kind_number_as_str, raw_bytes)``, e.g. ``("253", b"\\x01\\x02")``.
"""


DEFAULT_MSS_IPV4 = 536
"""RFC 9293 3.7.1 (MUST-15): the send MSS to assume without an MSS option, IPv4 (576 - 40)."""
DEFAULT_MSS_IPV6 = 1220
"""The same over IPv6: the minimum link MTU of RFC 8200 (section 5), 1280, minus 60."""


def is_ipv6(address: str) -> bool:
    """Whether ``address`` (canonical text, as segments carry it) is an IPv6 address."""
    return ":" in address


def default_mss(address: str) -> int:
    """The default send MSS for a connection whose addresses are of ``address``'s family."""
    return DEFAULT_MSS_IPV6 if is_ipv6(address) else DEFAULT_MSS_IPV4


class FourTuple(NamedTuple):
    """A connection as seen from the sender of a segment: (src, sport, dst, dport)."""

    src: str
    sport: int
    dst: str
    dport: int

    def reversed(self) -> FourTuple:
        return FourTuple(self.dst, self.dport, self.src, self.sport)

    def __str__(self) -> str:
        if is_ipv6(self.src):
            return f"[{self.src}]:{self.sport} > [{self.dst}]:{self.dport}"
        return f"{self.src}:{self.sport} > {self.dst}:{self.dport}"


@dataclass(frozen=True, slots=True)
class Segment:
    """One TCP segment with its IP endpoints.

    ``chksum`` and ``dataofs`` stay ``None`` for "whatever is correct"; a test case sets them only to
    send a deliberately malformed segment: ``chksum`` to a value of its own, or to ``"bad"`` for one
    that is wrong whatever the correct one is (as a case file writes ``chksum: bad``).  A segment is
    only the segment: what a link saw of it (its frame, whether its checksum was right) travels
    beside it, in :class:`tcpconform.links.base.Received`.  ``ip`` is what its IP header holds
    besides the addresses (:class:`~tcpconform.tcp.ip.IpHeader`), ``None`` for the defaults.
    """

    src: str
    dst: str
    sport: int
    dport: int
    seq: int = 0
    ack: int = 0
    flags: Flags = Flags.NONE
    window: int = 0
    urgptr: int = 0
    options: tuple[Option, ...] = ()
    payload: bytes = b""
    reserved: int = 0
    chksum: int | Literal["bad"] | None = None
    dataofs: int | None = None
    eol_tail: bytes = b""
    """The option bytes after an EOL when any of them is not zero (RFC 9293 3.1, MUST-69: they must
    be); empty otherwise.  Kept beside ``options``, which end at the EOL as Scapy reads them."""
    ip: IpHeader | None = None

    @property
    def key(self) -> FourTuple:
        return FourTuple(self.src, self.sport, self.dst, self.dport)

    @property
    def seg_len(self) -> int:
        """Sequence space the segment occupies: payload plus one each for SYN and FIN."""
        return len(self.payload) + (1 if self.flags & Flags.SYN else 0) + (1 if self.flags & Flags.FIN else 0)

    def option(self, name: str) -> Any:
        """The value of the first option called ``name``, or ``None``."""
        for kind, value in self.options:
            if kind == name:
                return value
        return None

    def with_(self, **changes: Any) -> Segment:
        return replace(self, **changes)

    def summary(self, seq_base: int | None = None, ack_base: int | None = None) -> str:
        """tcpdump-like one line; with bases, sequence numbers are shown relative to them."""
        return render(self, seq_base, ack_base)


def render_options(options: tuple[Option, ...]) -> str:
    """tcpdump's option list: ``<mss 512,nop,wscale 7>``."""
    if not options:
        return ""
    parts = []
    for kind, value in options:
        spoken = SPOKEN.get(kind)
        if spoken is not None and spoken.render is not None:
            parts.append(spoken.render(value, str))
        elif kind == RAW:
            parts.append(f"raw {bytes(value).hex()}")  # option bytes that do not parse, verbatim
        else:
            raw = value.hex() if isinstance(value, bytes | bytearray) else value
            parts.append(f"opt-{kind} {raw}")
    return "<" + ",".join(parts) + ">"


_MASK = 0xFFFFFFFF
_ACK, _URG = int(Flags.ACK), int(Flags.URG)


def render(seg: Segment, seq_base: int | None = None, ack_base: int | None = None) -> str:
    seq = seg.seq if seq_base is None else (seg.seq - seq_base) & _MASK
    n = len(seg.payload)
    out = f"{seg.flags.tcpdump()} {seq}:{seq + n}({n})"
    if seg.flags & _ACK:
        ack = seg.ack if ack_base is None else (seg.ack - ack_base) & _MASK
        out += f" ack {ack}"
    out += f" win {seg.window}"
    if seg.urgptr or seg.flags & _URG:
        out += f" urg {seg.urgptr}"
    opts = render_options(seg.options)
    if opts:
        out += " " + opts
    return out
