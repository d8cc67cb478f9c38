"""A packetdrill packet (after its direction) -> the case notation's :class:`SegmentSpec`.

packetdrill's TCP packet syntax is the notation's own (tcpdump's), so a packet is parsed by
:func:`tcpconform.cases.notation.parse_segment` once what differs is translated:

- ``<...>`` on an outbound packet: any options (the notation's ``*``);
- ``TS val V ecr E`` on an outbound packet: packetdrill checks neither number (the option's presence
  and place, yes), and remembers the live value behind the script's ``V``; here that is a capture
  (``TS val ?pkt_tsval_V ecr *``, V's first time);
- ``ecr E`` on an inbound packet with ACK set: packetdrill sends the live value behind an outbound
  ``TS val E`` before it (``ecr $pkt_tsval_E``) and refuses a script with none, as this does;
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

_TS = re.compile(r"TS\s+val\s+(\S+)\s+ecr\s+(\S+)")
TSVAL = "pkt_tsval_"
"""The capture an outbound TS val's live value goes into: ``pkt_tsval_<the script's value>``."""
_KNOWN = ("mss", "sackOK", "nop", "wscale", "TS", "sack", "eol")


def segment_of(packet: Packet, tsvals: set[int] | None = None) -> SegmentSpec:
    """The packet as a segment spec: definite for an inbound packet (the tester sends it), a pattern
    for an outbound one; :class:`PktError` at the packet's column for what cannot be read.
    ``tsvals``: the outbound TS vals of the script so far (a packet's own are added), one set per script."""
    tsvals = set() if tsvals is None else tsvals
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
                items.append(_option(packet, item.strip(), at + len(item) - len(item.lstrip()), tsvals))
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


def _option(packet: Packet, item: str, offset: int, tsvals: set[int]) -> str:
    """One option as the notation writes it; packetdrill's extra kinds refused by name."""
    word = item.split(" ", 1)[0] if item else ""
    if word not in _KNOWN:
        raise PktError(packet.line, f"TCP option {word or '(empty)'}", "not taken (known: mss, sackOK, nop, wscale, "
                       "TS val V ecr E, sack L:R, eol and <...> for any options)", packet.column + offset)
    if word != "TS":
        return item
    ts = _TS.fullmatch(item)
    if ts is None:
        raise PktError(packet.line, "TCP option TS", "expected 'TS val V ecr E'", packet.column + offset)
    val, ecr = ts.group(1), ts.group(2)
    if not packet.inbound:
        if not val.isdigit() or int(val) in tsvals:
            return "TS val * ecr *"
        tsvals.add(int(val))
        return f"TS val ?{TSVAL}{int(val)} ecr *"
    if "." in packet.body.split(" ", 1)[0] and ecr.isdigit():  # an ACK: its ecr names an outbound TS val
        if int(ecr) not in tsvals:
            raise PktError(packet.line, "TCP option TS", f"ecr {ecr} echoes no outbound TS val before it, so its live "
                           "value cannot be known (packetdrill refuses it as well)", packet.column + offset)
        return f"TS val {val} ecr ${TSVAL}{int(ecr)}"
    return item
