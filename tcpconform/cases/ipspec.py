"""A send step's ``ip`` modifier, from the file to :class:`~tcpconform.cases.model.IpSpec`.

The schema has checked the shapes (which keys, integers in range, strings); this checks the
meaning: an address is a name or an address, an option item is one this knows, and the options
fit their header.  Every mistake comes back as (path below ``ip``, message), for the caller to
report at its line.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from tcpconform.cases.model import IpSpec
from tcpconform.cases.values import quoted
from tcpconform.tcp.ip import ADDRESS_NAMES, DEST_OPTIONS_MAX, IPV4_OPTIONS_MAX, PAD1, PADN

Problem = tuple[tuple[str | int, ...], str]

IPV4_ITEMS = {
    "nop": bytes([1]),
    "end": bytes([0]),
    # RFC 791 3.1: timestamps only (flag 0), room for two, pointer at the first free slot
    "timestamp": bytes([68, 12, 5, 0]) + bytes(8),
    # RFC 791 3.1: room for two addresses, pointer at the first free slot
    "record-route": bytes([7, 11, 4]) + bytes(8),
}
"""IPv4 option items by name; any other kind is written ``{kind: N, data: HEX}``."""

IPV6_ITEMS = {"pad1": bytes([PAD1]), "padn": bytes([PADN, 0])}
"""Destination option items by name; any other type is written ``{type: N, data: HEX}``."""


def _address(value: str) -> str | None:
    if value in ADDRESS_NAMES:
        return None
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"{quoted(value)} is neither an address nor one of {', '.join(ADDRESS_NAMES)}"
    return None


def _items(values: list[Any], named: dict[str, bytes], number: str, limit: int, path: str,
           problems: list[Problem]) -> bytes:
    out = bytearray()
    for i, item in enumerate(values):
        if isinstance(item, str):
            raw = named.get(item)
            if raw is None:
                problems.append(((path, i), f"unknown item {quoted(item)} (known: {', '.join(named)}, "
                                            f"or {{{number}: N, data: HEX}})"))
                continue
            out += raw
            continue
        kind, data = item.get(number), item.get("data", "")
        try:
            raw = bytes.fromhex(data)
        except ValueError:
            problems.append(((path, i, "data"), f"data must be hex digits, not {quoted(data)}"))
            continue
        if len(raw) > 253:
            problems.append(((path, i, "data"), f"an option holds at most 253 bytes of data, not {len(raw)}"))
            continue
        size = 2 + len(raw) if number == "kind" else len(raw)
        out += bytes([kind, size]) + raw
    if len(out) > limit:
        problems.append(((path,), f"the options take {len(out)} bytes; their header holds at most {limit}"))
    return bytes(out)


def ip_spec(value: dict[str, Any]) -> tuple[IpSpec | None, list[Problem]]:
    """The :class:`IpSpec` a validated ``ip`` mapping describes, or ``None`` and what is wrong."""
    problems: list[Problem] = []
    for key in ("src", "dst"):
        if key in value and (why := _address(value[key])) is not None:
            problems.append(((key,), why))
    options = _items(value.get("options", []), IPV4_ITEMS, "kind", IPV4_OPTIONS_MAX, "options", problems)
    dest = (_items(value["dest_options"], IPV6_ITEMS, "type", DEST_OPTIONS_MAX, "dest_options", problems)
            if "dest_options" in value else None)
    if problems:
        return None, problems
    return IpSpec(src=value.get("src"), dst=value.get("dst"), sport=value.get("sport"), ttl=value.get("ttl"),
                  tos=value.get("tos"), options=options, dest_options=dest), []
