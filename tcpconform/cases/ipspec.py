"""A send step's ``ip`` modifier, from the file to :class:`~tcpconform.cases.model.IpSpec`.

The schema has checked the shapes (which keys, integers in range, strings); this checks the
meaning: an address is a name or an address, an option item is one this knows, and the options
fit their header.  Every mistake comes back as (path below ``ip``, message), for the caller to
report at its line.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from tcpconform.cases.model import IpExpect, IpSpec
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


def _int(value: Any, low: int, high: int) -> int | None:
    """``value`` if it is an integer in ``low..high``; anything else the schema reports."""
    return value if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high else None


def _address(value: Any) -> str | None:
    if not isinstance(value, str) or value in ADDRESS_NAMES:
        return None  # not a string: the schema says so
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"{quoted(value)} is neither an address nor one of {', '.join(ADDRESS_NAMES)}"
    return None


def _items(values: Any, named: dict[str, bytes], number: str, limit: int, path: str,
           problems: list[Problem]) -> bytes:
    out = bytearray()
    for i, item in enumerate(values if isinstance(values, list) else []):
        if isinstance(item, str):
            raw = named.get(item)
            if raw is None:
                problems.append(((path, i), f"unknown item {quoted(item)} (known: {', '.join(named)}, "
                                            f"or {{{number}: N, data: HEX}})"))
                continue
            out += raw
            continue
        if not isinstance(item, dict):
            continue  # the schema reports it
        kind, data = _int(item.get(number), 2, 255), item.get("data", "")
        if kind is None or not isinstance(data, str):
            continue  # the schema reports it
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


ROUTE_NAMES = ("tester", "target")
"""Names a source route's addresses may be given by: the tester's address, the target's."""


def _route(value: Any, problems: list[Problem]) -> tuple[str, ...] | None:
    """A validated ``source_route`` list: names or IPv4 addresses (the schema checked the shape)."""
    if not isinstance(value, list):
        return None
    for i, item in enumerate(value):
        if not isinstance(item, str) or item in ROUTE_NAMES:
            continue
        try:
            ipaddress.IPv4Address(item)
        except ValueError:
            problems.append((("source_route", i), f"{quoted(item)} is neither an IPv4 address nor one of "
                                                  f"{', '.join(ROUTE_NAMES)}"))
    return tuple(item for item in value if isinstance(item, str))


def ip_spec(value: dict[str, Any]) -> tuple[IpSpec | None, list[Problem]]:
    """The :class:`IpSpec` a validated ``ip`` mapping describes, or ``None`` and what is wrong."""
    problems: list[Problem] = []
    for key in ("src", "dst"):
        if key in value and (why := _address(value[key])) is not None:
            problems.append(((key,), why))
    options = _items(value.get("options", []), IPV4_ITEMS, "kind", IPV4_OPTIONS_MAX, "options", problems)
    dest = (_items(value["dest_options"], IPV6_ITEMS, "type", DEST_OPTIONS_MAX, "dest_options", problems)
            if "dest_options" in value else None)
    route = _route(value.get("source_route"), problems)
    if route is not None and len(options) + 3 + 4 * len(route) > IPV4_OPTIONS_MAX:
        problems.append((("source_route",), f"the options and a route over {len(route)} hop(s) take "
                                            f"{len(options) + 3 + 4 * len(route)} bytes; the header holds at most 40"))
    if problems:
        return None, problems
    src, dst = (value.get(key) if isinstance(value.get(key), str) else None for key in ("src", "dst"))
    return IpSpec(src=src, dst=dst, sport="target" if value.get("sport") == "target" else None,
                  ttl=_int(value.get("ttl"), 0, 255), tos=_int(value.get("tos"), 0, 255), options=options,
                  dest_options=dest, source_route=route,
                  length_delta=_int(value.get("length_delta"), -65535, 65535) or 0), []


def ip_expect(value: dict[str, Any]) -> tuple[IpExpect, list[Problem]]:
    """The :class:`IpExpect` a validated expect step's ``ip`` mapping describes, and what is wrong."""
    ecn = value.get("ecn")
    problems: list[Problem] = []
    route = _route(value.get("source_route"), problems)
    return IpExpect(_int(value.get("ttl"), 0, 255), _int(value.get("tos"), 0, 255), ecn if isinstance(ecn, str) else None,
                    route), problems
