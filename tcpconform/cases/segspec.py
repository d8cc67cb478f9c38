"""Segment specs: the pattern a send or expect step writes, field by field.

Field values in a segment spec are one of:

- ``int``: exact value (sequence numbers relative, see :class:`Numbering`);
- :data:`ANY`: anything (``*``);
- :class:`Range`: inclusive range (``lo..hi``);
- :class:`Var`: a named value plus an offset (``$window``, ``$srv_win+10``); the name is looked up
  first among values captured so far, then in the target profile; if the profile leaves it open
  (``*``) the first observed value is captured under that name;
- :class:`Capture`: match anything and remember it (``?name``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tcpconform.tcp.segment import Flags

__all__ = ["ANY", "AnyValue", "Capture", "FieldSpec", "OptionSpec", "OptionsSpec", "Range", "SegmentSpec", "Var", "spec_str"]


class AnyValue:
    """The wildcard ``*``: a singleton so it compares and prints simply."""

    _instance: AnyValue | None = None

    def __new__(cls) -> AnyValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "*"

    def __reduce__(self) -> str:
        return "ANY"


ANY = AnyValue()


@dataclass(frozen=True, slots=True)
class Range:
    lo: int
    hi: int

    def __str__(self) -> str:
        return f"{self.lo}..{self.hi}"


@dataclass(frozen=True, slots=True)
class Var:
    name: str
    offset: int = 0

    def __str__(self) -> str:
        if self.offset:
            return f"${self.name}{self.offset:+d}"
        return f"${self.name}"


@dataclass(frozen=True, slots=True)
class Capture:
    name: str

    def __str__(self) -> str:
        return f"?{self.name}"


FieldSpec = int | AnyValue | Range | Var | Capture


def spec_str(value: FieldSpec | None) -> str:
    """How a field spec is written in a case file."""
    if value is None:
        return "-"
    return str(value) if not isinstance(value, AnyValue) else "*"


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One expected or sent option; ``kind`` is Scapy's name (``MSS``, ``WScale``, ``SAckOK``,
    ``SAck``, ``Timestamp``, ``NOP``, ``EOL``) or the kind number as a string for others.

    ``value`` is ``None`` for options without a value, a :data:`FieldSpec` for single-valued ones,
    a tuple of field specs for ``Timestamp`` (val, ecr) and ``SAck`` (edges), and ``bytes`` for raw/unknown kinds.
    """

    kind: str
    value: FieldSpec | tuple[FieldSpec, ...] | bytes | None = None


@dataclass(frozen=True, slots=True)
class OptionsSpec:
    """The option list of a segment spec.

    ``items`` must appear in this order; with ``open_ended`` (``...`` in the notation), other
    options may appear around them and ``items`` need only be present (in any order).
    """

    items: tuple[OptionSpec, ...] = ()
    open_ended: bool = False


@dataclass(frozen=True, slots=True)
class SegmentSpec:
    """A segment to send, or the pattern of one to expect.

    ``None`` for a field means "not specified": for an expectation, not checked; for a send, the
    engine's default (current sequence/ack state, the case's window, no options).
    ``length`` is the payload length.  ``payload`` gives explicit bytes; otherwise a send carries
    ``length`` bytes of the connection's deterministic stream and an expectation checks the data
    against the target's stream where the engine knows it.
    """

    flags: Flags | AnyValue
    seq: FieldSpec | None = None
    ack: FieldSpec | None = None
    window: FieldSpec | None = None
    length: FieldSpec | None = None
    urgptr: FieldSpec | None = None
    options: OptionsSpec | AnyValue | None = None
    payload: bytes | None = None
    chksum: int | Literal["bad"] | None = None
    reserved: int | None = None
    dataofs: int | None = None
    text: str = ""
