"""The TCP option vocabulary: one row per option kind, read by the codec, the notation and the renderers.

Names are Scapy's (``scapy.layers.inet.TCPOptions``): segments, case files and reports all write
them.  A value is held as Scapy holds it: ``None`` for a valueless kind, the fields ``layout``
unpacks (one field: the field itself, several: a tuple), 32-bit edges for SACK, and the bytes as
they came for a kind without a layout or a value whose length does not fit it.  A kind the table
lacks is written by its number, as a string, with bytes for its value (``("253", b"\\x01")``).

Kinds with a ``word`` are *spoken*: case files write them by name in the one-line notation, the
encoder builds them and the reference responder knows them.  The others are only ever read off the
wire, and every renderer writes them ``opt-NAME``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Render = Callable[[Any, Callable[[Any], str]], str]
"""How a spoken kind is written, given its value and how to write one field of it."""


@dataclass(frozen=True, slots=True)
class OptionKind:
    number: int
    """The kind byte on the wire."""
    name: str
    """As segments, case files and reports write it: ``MSS``."""
    layout: struct.Struct | None
    """The value's fields on the wire; ``None``: no value, or bytes kept as they came (SACK's edges
    are the one variable-length layout, 32 bits each)."""
    valueless: bool = False
    """The value is ``None``: the kind carries nothing (EOL, NOP, SAckOK)."""
    word: str | None = None
    """The notation's and tcpdump's word for a spoken kind (``mss``); ``None`` for a kind only read."""
    render: Render | None = None
    """The kind as tcpdump writes it, for a spoken kind."""

    @property
    def has_length(self) -> bool:
        """Whether a length byte follows the kind byte: every kind but EOL and NOP (RFC 9293 3.1)."""
        return self.number > NOP

    @property
    def arity(self) -> int:
        """How many fields ``layout`` holds (0 without one)."""
        return len(self.layout.unpack(bytes(self.layout.size))) if self.layout is not None else 0


EOL, NOP, SACK, TIMESTAMP, AO = 0, 1, 5, 8, 29


def _sack(value: Any, f: Callable[[Any], str]) -> str:
    return "sack " + " ".join(f"{f(a)}:{f(b)}" for a, b in zip(value[::2], value[1::2], strict=False))


OPTIONS = (
    OptionKind(2, "MSS", struct.Struct("!H"), word="mss", render=lambda v, f: f"mss {f(v)}"),
    OptionKind(3, "WScale", struct.Struct("!B"), word="wscale", render=lambda v, f: f"wscale {f(v)}"),
    OptionKind(4, "SAckOK", None, valueless=True, word="sackOK", render=lambda v, f: "sackOK"),
    OptionKind(SACK, "SAck", None, word="sack", render=_sack),
    OptionKind(TIMESTAMP, "Timestamp", struct.Struct("!II"), word="TS",
               render=lambda v, f: f"TS val {f(v[0])} ecr {f(v[1])}"),
    OptionKind(NOP, "NOP", None, valueless=True, word="nop", render=lambda v, f: "nop"),
    OptionKind(EOL, "EOL", None, valueless=True, word="eol", render=lambda v, f: "eol"),
    OptionKind(14, "AltChkSum", struct.Struct("!BH")),
    OptionKind(15, "AltChkSumOpt", None),
    OptionKind(19, "MD5", struct.Struct("16s")),
    OptionKind(25, "Mood", struct.Struct("!p")),
    OptionKind(28, "UTO", struct.Struct("!H")),
    OptionKind(AO, "AO", None),
    OptionKind(34, "TFO", struct.Struct("!II")),
)
"""Every kind Scapy names, the spoken ones first, in the order error messages list them."""

BY_NUMBER = {o.number: o for o in OPTIONS}
BY_NAME = {o.name: o for o in OPTIONS}
SPOKEN = {o.name: o for o in OPTIONS if o.word is not None}
"""The spoken kinds by name, in the table's order."""
BY_WORD = {o.word: o for o in OPTIONS if o.word is not None}


def layout_of(number: int) -> struct.Struct:
    """The value layout of kind ``number``, which must have a fixed one."""
    layout = BY_NUMBER[number].layout
    if layout is None:
        raise ValueError(f"option kind {number} has no fixed layout")
    return layout

RAW = "raw"
"""The pseudo-kind of an option list kept as bytes, verbatim: one that does not parse, or one sent
exactly as a case file wrote it, malformed or not."""
