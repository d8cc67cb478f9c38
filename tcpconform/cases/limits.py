"""What a segment and a case can hold at most, checked when a case file is loaded.

A value each field can hold is :mod:`.values`'s business; these are the bounds that come from
several fields together, which a case file can exceed with every single value in range:

- the options of a segment: the data offset is four bits of 32-bit words, so a header holds at most
  60 bytes, 40 of them options (RFC 9293 3.1).  A sent segment with more would go out with a data
  offset that lies and its last options read as data; an expected one could never match;
- the data of a sent segment: it must fit one IP packet with the headers (IPv4: total length
  65,535 less 20 bytes of IP header; IPv6: payload length 65,535), or no frame can carry it;
- the time a case takes: the sum of its durations (:data:`~tcpconform.cases.values.MAX_DURATION`).
"""

from __future__ import annotations

from collections.abc import Iterable

from tcpconform.cases.model import (
    AnyStep,
    ExpectStep,
    IsnSampleStep,
    OptionSpec,
    OptionsSpec,
    SegmentSpec,
    SilenceStep,
    WaitStep,
)
from tcpconform.tcp.options import BY_NAME, RAW, SACK

__all__ = ["MAX_OPTION_BYTES", "TCP_HEADER", "case_duration", "max_data", "option_bytes", "segment_problems"]

MAX_OPTION_BYTES = 40
"""Option bytes a TCP header holds: a data offset of 15 words (60 bytes) less the 20 fixed ones."""
TCP_HEADER = 20
IP_PACKET = 65_535
"""The largest IPv4 total length and the largest IPv6 payload length (no jumbograms)."""
IPV4_HEADER = 20


def option_bytes(items: Iterable[OptionSpec]) -> int:
    """The bytes ``items`` take on the wire, unpadded: kind, length and value of each."""
    total = 0
    for opt in items:
        kind = BY_NAME.get(opt.kind)
        if opt.kind == RAW and isinstance(opt.value, bytes):
            total += len(opt.value)  # verbatim, kind and length included
        elif kind is None or isinstance(opt.value, bytes):
            total += 2 + len(opt.value) if isinstance(opt.value, bytes) else 2
        elif not kind.has_length:
            total += 1
        elif kind.number == SACK:
            total += 2 + 4 * (len(opt.value) if isinstance(opt.value, tuple) else 0)
        else:
            total += 2 + (kind.layout.size if kind.layout is not None else 0)
    return total


def max_data(family: str | None, options: int) -> int:
    """The most data bytes one segment can carry with ``options`` bytes of (padded) options, over
    ``family`` (``None``: both, so IPv4's limit)."""
    ip = 0 if family == "ipv6" else IPV4_HEADER
    return IP_PACKET - ip - TCP_HEADER - options


def segment_problems(spec: SegmentSpec, *, send: bool, family: str | None) -> list[tuple[str, str]]:
    """What makes ``spec`` impossible on the wire, as ``(field, why)``; ``field`` is ``options`` or
    ``length``.  Values not known before the run (``$name``, wildcards) are not judged."""
    out: list[tuple[str, str]] = []
    used = option_bytes(spec.options.items) if isinstance(spec.options, OptionsSpec) else 0
    padded = used + -used % 4 if send else used
    if padded > MAX_OPTION_BYTES:
        what = "take" if not send or padded == used else f"take {used}, padded to"
        out.append(("options", f"the options {what} {padded} bytes; a TCP header holds at most "
                               f"{MAX_OPTION_BYTES} (its data offset counts at most 15 words of 4 bytes)"))
    if not send:
        return out
    data = len(spec.payload) if spec.payload is not None else spec.length if isinstance(spec.length, int) else None
    options = min(padded, MAX_OPTION_BYTES)
    limit = max_data(family, options)
    if data is not None and data > limit:
        over = "IPv6 (payload length 65535" if family == "ipv6" else "IPv4 (65535 - 20 IP"
        out.append(("length", f"{data} bytes of data cannot go in one IP packet: {over} - 20 TCP - "
                              f"{options} option bytes) holds at most {limit}"))
    return out


def case_duration(steps: Iterable[AnyStep]) -> float:
    """The longest a case's steps can take by the durations it writes: every wait and silence, every
    ``within``, and an ISN sample's ``within`` (or its connections times their interval)."""
    total = 0.0
    for step in steps:
        if isinstance(step, WaitStep | SilenceStep):
            total += step.duration
        elif isinstance(step, ExpectStep) and step.within is not None:
            total += step.within
        elif isinstance(step, IsnSampleStep):
            total += step.within if step.within is not None else step.count * step.interval
    return total
