"""A packetdrill packet (after its direction) -> the case notation's :class:`SegmentSpec`.

packetdrill's TCP packet syntax is the notation's own (tcpdump's), so a packet is parsed by
:func:`tcpconform.cases.notation.parse_segment` once what differs is translated:

- ``<...>`` on an outbound packet: any options (the notation's ``*``);
- ``TS val V ecr E`` on an outbound packet: packetdrill rewrites both to the live connection's
  values, so neither is checked here (``TS val * ecr *``): the option's presence and place are;
- a field an outbound packet leaves out (``win``, ``ack``): not checked, as packetdrill does.

Options the notation has no word for (``FO``, ``md5``, ``mptcp``, ``exp-tfo``...) are refused by
name.  Invariant: the spec returned is one the loader of YAML cases would build from the same text.
"""

from __future__ import annotations

import re
from dataclasses import replace

from tcpconform.cases.limits import segment_problems
from tcpconform.cases.model import ANY, SegmentSpec
from tcpconform.cases.notation import parse_segment
from tcpconform.cases.packetdrill.script import Packet, PktError
from tcpconform.cases.values import NotationError

__all__ = ["segment_of"]

_TS = re.compile(r"TS\s+val\s+\S+\s+ecr\s+\S+")
_KNOWN = ("mss", "sackOK", "nop", "wscale", "TS", "sack", "eol")


def segment_of(packet: Packet) -> SegmentSpec:
    """The packet as a segment spec: definite for an inbound packet (the tester sends it), a pattern
    for an outbound one; :class:`PktError` at the packet's column for what cannot be read."""
    body = packet.body
    head, options = body, ""
    if "<" in body:
        at = body.index("<")
        if not body.rstrip().endswith(">"):
            raise PktError(packet.line, "TCP options", "the option list is not closed with '>' (options come last)",
                           packet.column + at)
        head, options = body[:at], body[at:].strip()
    any_options = False
    if options:
        inner = options[1:-1].strip()
        if inner == "...":
            if packet.inbound:
                raise PktError(packet.line, "TCP options <...>", "an inbound packet needs definite options",
                               packet.column + len(head))
            any_options, options = True, ""
        else:
            items, at = [], len(head) + body[len(head):].index("<") + 1
            for item in options[1:-1].split(",") if inner else []:
                items.append(_option(packet, item.strip(), at + len(item) - len(item.lstrip())))
                at += len(item) + 1
            options = "<" + ",".join(items) + ">" if inner else "<>"
    text = f"{head.rstrip()} {options}".strip()
    try:
        spec = parse_segment(text, send=packet.inbound)
    except NotationError as exc:
        column = packet.column + (exc.column or 1) - 1 if exc.column and exc.column <= len(head) else packet.column
        raise PktError(packet.line, "TCP packet", exc.message, column) from None
    if any_options:
        spec = replace(spec, options=ANY, text=body.strip())
    for _, message in segment_problems(spec, send=packet.inbound, family=None):
        raise PktError(packet.line, "TCP packet", message, packet.column)
    return spec


def _option(packet: Packet, item: str, offset: int) -> str:
    """One option as the notation writes it; packetdrill's extra kinds refused by name."""
    word = item.split(" ", 1)[0] if item else ""
    if word not in _KNOWN:
        raise PktError(packet.line, f"TCP option {word or '(empty)'}", "not taken (known: mss, sackOK, nop, wscale, "
                       "TS val V ecr E, sack L:R, eol and <...> for any options)", packet.column + offset)
    if word == "TS" and not packet.inbound:
        if not _TS.fullmatch(item):
            raise PktError(packet.line, "TCP option TS", "expected 'TS val V ecr E'", packet.column + offset)
        return "TS val * ecr *"
    return item
