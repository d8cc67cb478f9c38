"""A packetdrill script's text -> its events: timed packets, system calls and option lines.

This module knows packetdrill's syntax and nothing of the case model (:mod:`.mapping` does the
mapping).  Invariant: every event carries the 1-based line it came from, and every construct this
reader does not take is refused with a :class:`PktError` naming its line, its column where known and
the construct by the name a packetdrill user knows it by, so a script is never run half understood.

Comments (``//`` to the end of the line, ``/* ... */`` over lines) are blanked before the lines are
read, column for column, so positions in the rest of a line stay those of the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Event", "Option", "Packet", "PktError", "Script", "Syscall", "Timing", "read_script"]


class PktError(Exception):
    """A construct of a script that cannot be read or is not taken: where, what, and why."""

    def __init__(self, line: int, construct: str, message: str, column: int | None = None) -> None:
        super().__init__(f"{line}: {construct}: {message}")
        self.line, self.construct, self.message, self.column = line, construct, message, column


@dataclass(frozen=True, slots=True)
class Timing:
    """When an event happens in script time: ``lo..hi`` seconds after the script's start, ``relative``
    when written ``+T`` (``lo``/``hi`` then already include the previous event's time); ``any`` for
    ``*``, which packetdrill lets happen at any time (``lo``/``hi`` are then the previous event's)."""

    lo: float
    hi: float
    any: bool = False


@dataclass(frozen=True, slots=True)
class Packet:
    line: int
    timing: Timing
    inbound: bool
    """``<``: the tester sends it; ``>``: the target must send it."""
    body: str
    """The packet as written after the direction (flags, ``seq:end(len)``, ``ack``, ``win``, ``<options>``)."""
    column: int
    """The column where ``body`` starts."""


@dataclass(frozen=True, slots=True)
class Syscall:
    line: int
    timing: Timing
    name: str
    args: tuple[str, ...]
    result: str
    """What the call must return, as written: ``3``, ``0``, ``-1 EINPROGRESS (Operation now in progress)``."""


@dataclass(frozen=True, slots=True)
class Option:
    """An option line (``--tolerance_usecs=10000``)."""

    line: int
    name: str
    value: str


Event = Packet | Syscall


@dataclass(frozen=True, slots=True)
class Script:
    events: tuple[Event, ...]
    options: tuple[Option, ...]
    comments: tuple[tuple[int, str], ...]
    """Every comment's text (``//`` or one line of a ``/* */``) with its line, in file order."""


_TIME = re.compile(r"(?P<any>\*)|(?P<lo>\+?(?:\d+\.?\d*|\.\d+))(?:~(?P<hi>\+?(?:\d+\.?\d*|\.\d+)))?")
_SYSCALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_OPTION = re.compile(r"--([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?\s*$")
MAX_EVENTS = 1_000
"""The most packets and system calls of a script: the most steps a YAML case may have."""
MAX_SCRIPT_TIME = 86_400.0
"""The latest script time taken (seconds): a day, the longest a case may take."""


_TUN_SETUP = re.compile(r"`\s*ethtool\s+-K\s+tun0(\s+[a-z][a-z0-9-]*\s+(on|off))+\s*`\s*$")
"""A shell command setting the offloads of packetdrill's tun device (``ethtool -K tun0 tso off gso off``,
so packetdrill sees segments as a wire carries them): skipped, there is no tun here, and the lab's
veth has its offloads off already."""


def read_script(text: str) -> Script:
    """The events of a script, in order; raise :class:`PktError` at the first construct refused."""
    lines, comments = _strip_comments(text)
    events: list[Event] = []
    options: list[Option] = []
    now = 0.0
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped:
            continue
        col = len(line) - len(line.lstrip()) + 1
        if stripped.startswith("%{"):
            raise PktError(number, "inline Python (%{ }%)", "Python snippets are not run: remove them", col)
        if "`" in stripped:
            if _TUN_SETUP.search(stripped):  # packetdrill's own tun device: no counterpart on a real link
                timing, _ = _timing(number, line, col, now)
                now = timing.hi if not timing.any else now
                continue
            raise PktError(number, "shell command (`...`)", "shell commands are not run: set the target up beforehand",
                           line.index("`") + 1)
        if stripped.startswith("--"):
            m = _OPTION.fullmatch(stripped)
            if m is None:
                raise PktError(number, "option line", f"expected --name=value (got {stripped!r})", col)
            options.append(Option(number, m[1], m[2] or ""))
            continue
        timing, rest_at = _timing(number, line, col, now)
        now = timing.hi if not timing.any else now
        events.append(_event(number, line, rest_at, timing))
        if len(events) > MAX_EVENTS:
            raise PktError(number, "script", f"more than {MAX_EVENTS:,} packets and system calls: too many for a case")
    return Script(tuple(events), tuple(options), tuple(comments))


def _strip_comments(text: str) -> tuple[list[str], list[tuple[int, str]]]:
    """The lines with comments blanked (same columns) and the comments' texts."""
    out: list[str] = []
    comments: list[tuple[int, str]] = []
    in_block = False
    for number, line in enumerate(text.split("\n"), 1):
        chars = list(line)
        i = 0
        while i < len(line):
            if in_block:
                end = line.find("*/", i)
                stop = len(line) if end < 0 else end
                comments.append((number, line[i:stop].strip(" *")))
                chars[i:stop + (2 if end >= 0 else 0)] = " " * (stop + (2 if end >= 0 else 0) - i)
                in_block = end < 0
                i = stop + 2 if end >= 0 else len(line)
            elif line.startswith("//", i):
                comments.append((number, line[i + 2:].strip()))
                chars[i:] = " " * (len(line) - i)
                break
            elif line.startswith("/*", i):
                chars[i:i + 2] = "  "
                in_block, i = True, i + 2
            else:
                i += 1
        out.append("".join(chars))
    return out, comments


def _timing(number: int, line: str, col: int, now: float) -> tuple[Timing, int]:
    """The line's time and the column after it (0-based index into ``line``)."""
    start = col - 1
    m = _TIME.match(line, start)
    if m is None or m.end() == start:
        raise PktError(number, "time", "a line starts with its time: 0.100, +0.1, * or 0.1~0.2", col)
    if m["any"]:
        return Timing(now, now, any=True), m.end()
    lo_text, hi_text = m["lo"], m["hi"] or m["lo"]
    if hi_text.startswith("+") != lo_text.startswith("+"):
        raise PktError(number, "time range", "both ends of a range are relative (+a~+b) or both absolute (a~b)", col)
    base = now if lo_text.startswith("+") else 0.0
    lo, hi = base + float(lo_text), base + float(hi_text)
    if hi < lo:
        raise PktError(number, "time range", f"the range ends before it starts ({lo_text}~{hi_text})", col)
    if lo < now - 1e-9:
        raise PktError(number, "time", f"the time {lo_text} is before the previous line's ({now:.6g} s): "
                       "absolute times must not go back", col)
    if hi > MAX_SCRIPT_TIME:
        raise PktError(number, "time", f"script time beyond {MAX_SCRIPT_TIME:.0f} s (a day)", col)
    return Timing(lo, hi), m.end()


def _event(number: int, line: str, at: int, timing: Timing) -> Event:
    rest = line[at:]
    body = rest.lstrip()
    column = at + len(rest) - len(body) + 1
    body = body.rstrip()
    if not body:
        raise PktError(number, "line", "a time with nothing after it: expected '<' or '>' and a packet, or a system call",
                       column)
    if body[0] in "<>":
        packet = body[1:].lstrip()
        pcol = column + len(body) - len(packet)
        first = packet.split(" ", 1)[0].lower() if packet else ""
        if first in ("icmp", "udp", "udplite", "gre", "mpls", "ipv4", "ipv6"):
            raise PktError(number, f"{first} packet", "only TCP packets are taken", pcol)
        if packet.startswith(("[", "(")):
            raise PktError(number, "IP header fields ([ecn], (tos ...), ...)", "IP-level fields on a packet are not taken",
                           pcol)
        if not packet:
            raise PktError(number, "packet", "expected a TCP packet after the direction", pcol)
        return Packet(number, timing, body[0] == "<", packet, pcol)
    m = _SYSCALL.match(body)
    if m is None:
        raise PktError(number, "line", f"expected '<' or '>' and a packet, or a system call (got {body!r})", column)
    args, after = _arguments(number, body, m.end(), column)
    tail = body[after:].strip()
    if not tail.startswith("="):
        raise PktError(number, f"{m[1]}()", "a system call is followed by '= RESULT'", column + after)
    result = tail[1:].strip()
    if not result:
        raise PktError(number, f"{m[1]}()", "expected the result after '='", column + after)
    return Syscall(number, timing, m[1], args, result)


_CLOSE = {"(": ")", "[": "]", "{": "}"}


def _arguments(number: int, body: str, start: int, column: int) -> tuple[tuple[str, ...], int]:
    """The call's arguments split at the commas outside brackets, and the index after its ``)``."""
    stack = [")"]
    args: list[str] = []
    current = start
    for i in range(start, len(body)):
        ch = body[i]
        if ch == '"':
            raise PktError(number, "string argument", "string arguments are not taken (write ... for a buffer)", column + i)
        if ch in _CLOSE:
            stack.append(_CLOSE[ch])
        elif ch in ")]}":
            if ch != stack[-1]:
                raise PktError(number, "system call", f"unbalanced {ch!r}", column + i)
            stack.pop()
            if not stack:
                args.append(body[current:i].strip())
                return tuple(a for a in args if a or len(args) > 1), i + 1
        elif ch == "," and len(stack) == 1:
            args.append(body[current:i].strip())
            current = i + 1
    raise PktError(number, "system call", "the argument list is not closed with ')'", column + len(body))
