"""How case files write one value and one duration, and the error every notation mistake raises.

A value is a number, a wildcard, a range, a variable or a capture (:func:`parse_value`); a field
also bounds it (:data:`FIELD_MAX`).  Errors are :class:`NotationError` with the 1-based column
inside the text, so the loader can point at the exact character in the case file.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from tcpconform.cases.model import ANY, Capture, FieldSpec, Range, Var, spec_str
from tcpconform.tcp import seqnum

VALUE_HELP = "an integer, '*', 'lo..hi', '$name', '$name+n' or '?name'"
SEND_HELP = "a sent segment needs definite values: an integer or '$name[+n]'"

FIELD_MAX = {
    "seq": seqnum.MASK, "ack": seqnum.MASK, "isn": seqnum.MASK, "window": 0xFFFF, "length": 0xFFFF,
    "urgptr": 0xFFFF, "mss": 0xFFFF, "wscale": 0xFF, "TS val": seqnum.MASK, "TS ecr": seqnum.MASK,
    "sack": seqnum.MASK,
}
"""The largest value each field can hold on the wire: a number beyond it is a typo, not a test."""

MAX_DIGITS = 20
"""The most digits a number in a case file's text may have: every field holds at most 32 bits (ten
digits), and Python refuses to convert strings of more than 4,300 digits at all."""
MAX_DURATION = 86_400.0
"""The longest duration a case file may write (seconds), and the longest a whole case may add up to:
one day.  RFC 9293's longest timers fit many times over (2 MSL is 4 min at most, a user timeout
minutes, the keep-alive interval's floor 2 h), the bundled cases need 8 s at most, and a bound
keeps every time a run computes (virtual clocks, pcap timestamps) within range."""


def to_int(digits: str) -> int:
    """An integer from ASCII digits (an optional sign first), refused beyond :data:`MAX_DIGITS`."""
    if len(digits.lstrip("+-")) > MAX_DIGITS:
        raise NotationError(f"{digits[:12]}... ({len(digits)} digits) is out of range", 1)
    return int(digits)


_NAME_RE = r"[a-z_][a-z0-9_]*"
_VALUE_RES = (
    (re.compile(r"[0-9]+"), lambda m: to_int(m[0])),
    (re.compile(r"\*"), lambda m: ANY),
    (re.compile(r"([0-9]+)\.\.([0-9]+)"), lambda m: Range(to_int(m[1]), to_int(m[2]))),
    (re.compile(rf"\$({_NAME_RE})(?:([+-][0-9]+))?"), lambda m: Var(m[1], to_int(m[2] or "0"))),
    (re.compile(rf"\?({_NAME_RE})"), lambda m: Capture(m[1])),
)
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(us|ms|s)?")
_UNITS = {None: 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}


class NotationError(ValueError):
    """A mistake in a segment, value or duration; ``column`` is 1-based within the text, if known."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


def quoted(value: Any) -> str:
    """A value as a message quotes it back: its ``repr``, cut short beyond 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def did_you_mean(word: str, choices: Any) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, ignoring case, or an empty string."""
    by_lower = {str(c).lower(): str(c) for c in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""


def parse_value(text: str) -> FieldSpec:
    """One field value: ``512``, ``*``, ``1..5``, ``$window``, ``$isn+1``, ``?peer_win``."""
    text = text.strip()
    for regex, make in _VALUE_RES:
        m = regex.fullmatch(text)
        if m:
            value = make(m)
            if isinstance(value, Range) and value.lo > value.hi:
                raise NotationError(f"range {text!r} is empty: {value.lo} > {value.hi}", 1)
            return value
    raise NotationError(f"expected {VALUE_HELP} (got {quoted(text)})", 1)


def check_value(value: FieldSpec, field: str, *, send: bool = False) -> None:
    """Reject values a field cannot hold, and wildcards where a definite value is needed."""
    if send and not isinstance(value, int | Var):
        raise NotationError(f"{SEND_HELP} (got {spec_str(value)!r})", 1)
    top = FIELD_MAX.get(field)
    ints = [value] if isinstance(value, int) else [value.lo, value.hi] if isinstance(value, Range) else []
    for n in ints:
        if n < 0 or (top is not None and n > top):
            raise NotationError(f"{n} is out of range for {field} (0..{top})", 1)


def field_value(raw: Any, field: str, *, send: bool = False) -> FieldSpec:
    """A value from a case file's mapping form: an ``int`` or a string in the value syntax."""
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise NotationError(f"expected {VALUE_HELP} (got {quoted(raw)})")
    value = raw if isinstance(raw, int) else parse_value(raw)
    check_value(value, field, send=send)
    return value


def parse_duration(value: str | float) -> float:
    """Seconds from ``500ms``, ``1s``, ``1.5s``, ``250us`` or a bare number of seconds.

    Durations bound waits, so zero or a negative one can only be a mistake, and so can one beyond
    :data:`MAX_DURATION`.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise NotationError(f"expected a duration such as 500ms, 1.5s, 250us or 2 (got {value!r})")
    if isinstance(value, str):
        m = _DURATION.fullmatch(value.strip())
        if not m:
            raise NotationError(f"expected a duration such as 500ms, 1.5s, 250us or 2 (got {value!r})")
        seconds = float(m[1]) * _UNITS[m[2]]
    else:
        seconds = float(value) if abs(value) <= MAX_DURATION else float("inf")  # an int float() cannot hold
    if not 0 < seconds <= MAX_DURATION:
        raise NotationError(f"a duration must be greater than 0 and at most one day, {MAX_DURATION:.0f} s "
                            f"(got {quoted(value)})")
    return seconds
