"""Mutated case files: the bundled ones, broken the ways a hand, an editor, a generator or an
attacker breaks YAML.

:func:`mutant` is a pure function of ``(seed, index)``: the campaign of :mod:`.fuzz_cases` can name
any file it tried by those two numbers, and anyone can make it again to look at it.  Each mutant
is one bundled file with one to three mutations applied in turn; the mutations are the kinds the
reliability probes found harmful (and their neighbours): bytes flipped, lines deleted, duplicated
and re-indented, scalars swapped for other types and extreme numbers, deep nesting, aliases and
bombs, tags, byte-order marks and other encodings, control characters, very long lines, repeated
and unknown keys, and segment notation pushed past its fields' limits.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

from tcpconform.cases.bundled import bundled_cases

__all__ = ["MUTATIONS", "Mutant", "mutant", "sources"]

Mutant = tuple[str, str, bytes]
"""A mutated file: the name of its source, the mutations applied (``flip-byte+dup-key``), its bytes."""

_ENC = ("utf-8", "surrogateescape")
"""Text mutations work on the text with undecodable bytes kept, so a broken byte survives the next one."""

HOSTILE_VALUES = (
    "0", "-1", "-0", "1.5", "5.0", "1e300", "1.0e+300", "-1.0e+300", ".nan", ".NaN", ".inf", "-.inf", "65495",
    "65496", "65535", "65536", "4294967295", "4294967296", "99999999999999999999999", "9" * 5000, "0x10", "0o17",
    "1_000", "true", "false", "yes", "no", "null", "~", "''", '""', "[]", "{}", "[1, 2]", "{a: 1}", "[[[]]]",
    "[{}, [], null]", "'x'", '"\\0"', '"\\e[31m"', '"a\\tb"', '"\\u2028"', '"\\uFFFE"', '"\\x85"', "abc",
    "a" * 10_000, "2001-01-01", "2001-99-99", "12:30:00", "1:2", "=", "<<", "*", "$x", "?x", "1..0",
    "$x+99999999999999999999", "0..4294967296", "-5ms", "0s", "1e-300", "86401", "86400", "500us", "1.5s",
    "10 ms", "\u00b2", "\uff11\uff12", "\u0663", "\u202eevil", "e\u0301", "\U0001f600", "|\n  block\n",
    ">-\n  folded\n", "'", '"', "[", "{", "- x", "? x", ": x", "#", "%", "@x", "`x`",
)
"""Values put where a bundled file has a scalar: other types, edges of every field, YAML oddities."""

TAGS = (
    "!!float x", "!!int x", "!!bool x", "!!timestamp x", "!!timestamp 2001-99-99", "!!null x", "!!str [seed]",
    "!!binary x", "!!binary aGk=", "!!set {a}", "!!omap [a: 1]", "!!pairs [a: 1]", "!!python/object:os.system [echo]",
    "!!python/name:os.system", "!!python/tuple [1]", "!custom x", "!<tag:yaml.org,2002:int> 1", "!!map [1]",
    "!!seq {a: 1}", "!!int 0x1F", "!!float 1e9999", "!!merge x", "!!value x", "!!yaml x", "!!int " + "9" * 5000,
)

NOTATION = (
    "<" + ",".join(["mss 1"] * 15) + ">", "<" + ",".join(["TS val 1 ecr 2"] * 5) + ">", "<opt-999 00>",
    "<opt-253 " + "ab" * 300 + ">", "<raw " + "01" * 100 + ">", "<sack " + "1:2 " * 20 + ">", "<sack>", "<mss>",
    " win 99999999", " ack $x+99999999999999999999999", " 1..0", " ?n", " *", " <...>", " <", " >", "(", ")",
    ":", " 1:65536(65535)", " 0:" + "9" * 30 + "(0)", " urg 65536", " <wscale 256>", " <mss \u00b2>", " SFRPAUECN",
    " [payload 00]", "\t", " " * 1000, "9" * 5000,
)
"""Tokens spliced into a one-line segment: options past 40 bytes, values past their fields."""

KEYS = ("id", "title", "requirements", "steps", "faults", "no_fault", "tester", "numbering", "level", "tags", "area",
        "description", "family", "port", "alone", "may_crash", "tolerate", "invariants", "needs", "ref", "rid", "text",
        "flags", "seq", "ack", "window", "len", "urgptr", "payload", "options", "chksum", "reserved", "dataofs", "hex",
        "within", "isn", "rfc", "measure", "min_bits", "interval", "send", "expect", "silence", "app", "state", "wait",
        "isn_sample", "isn_check", "reconnect", "read", "write", "matrix", "states", "events", "cells", "values", "why",
        "omit", "then", "mss", "tester", "target")
"""Keys a case file or table knows: one swapped for another makes a file the schema may still pass."""

STEPS = (
    "  - send: {flags: P, seq: 1, len: 65535}\n", "  - send: {flags: P, seq: 1, payload: {hex: '" + "00" * 65500 + "'}}\n",
    "  - send: \"S 0:0(0) <" + ",".join(["mss 1"] * 15) + ">\"\n", "  - wait: 1.0e+300\n", "  - silence: .inf\n",
    "  - expect: \"S. 0:0(0) ack 1\"\n    within: 1.0e+300\n",
    "  - isn_sample: 5\n  - isn_check: unpredictable\n    min_bits: .nan\n",
    "  - isn_sample: 500\n    interval: 86400\n", "  - app: {write: 99999999999}\n", "  - app: write 1" + "0" * 30 + "\n",
    "  - send: {flags: S, seq: 0, dataofs: 5.0, reserved: 7, chksum: bad}\n", "  - state: \"ESTABLISHED\\0\"\n",
    "  - reconnect: fresh-port\n", "  - expect: {flags: '*', options: '...'}\n    isn: 99999999999\n",
    "  - send: {flags: S, options: [[SAck, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], [253, 'ab']]}\n",
    "  - expect: \"R 0:0(0) <sack " + "1:2 " * 12 + ">\"\n", "  - wait: 86400\n  - wait: 86400\n",
)
"""Steps with edge values, inserted among a file's steps: they reach the step builders."""

_SCALAR = re.compile(r"^(\s*(?:- )?[\w$?.-]+:\s+)(\S.*)$", re.M)


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True) or [""]


def _pick_line(rng: random.Random, lines: list[str]) -> int:
    return rng.randrange(len(lines))


def _flip_byte(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data or b" ")
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _delete_bytes(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + data[at + rng.randint(1, 50):]


def _insert_bytes(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.randbytes(rng.randint(1, 20)) + data[at:]


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def _bad_utf8(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    bad = rng.choice((b"\xff", b"\xfe\xff", b"\x80", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82"))
    return data[:at] + bad + data[at:]


def _control_byte(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + bytes([rng.choice((0, 1, 7, 8, 11, 12, 27, 127))]) + data[at:]


def _encoding(rng: random.Random, data: bytes) -> bytes:
    text = data.decode(*_ENC)
    choice = rng.randrange(5)
    if choice == 0:
        return b"\xef\xbb\xbf" + data
    if choice == 1:
        at = rng.randrange(len(data) + 1)
        return data[:at] + b"\xef\xbb\xbf" + data[at:]
    codec = ("utf-16", "utf-16-be", "utf-32")[choice - 2]
    return text.encode(codec, "replace")


def _newlines(rng: random.Random, data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n") if rng.random() < 0.5 else data.replace(b"\n", b"\r", rng.randint(1, 20))


def _text(fn: Callable[[random.Random, list[str]], list[str]]) -> Callable[[random.Random, bytes], bytes]:
    """A mutation of lines, as a mutation of bytes."""
    def apply(rng: random.Random, data: bytes) -> bytes:
        return "".join(fn(rng, _lines(data.decode(*_ENC)))).encode(*_ENC)
    return apply


@_text
def _delete_line(rng: random.Random, lines: list[str]) -> list[str]:
    at = _pick_line(rng, lines)
    return lines[:at] + lines[at + rng.randint(1, 3):]


@_text
def _duplicate_line(rng: random.Random, lines: list[str]) -> list[str]:
    at = _pick_line(rng, lines)
    block = lines[at:at + rng.randint(1, 5)]
    return lines[:at] + block * rng.choice((2, 2, 3, 50)) + lines[at:]


@_text
def _swap_lines(rng: random.Random, lines: list[str]) -> list[str]:
    a, b = _pick_line(rng, lines), _pick_line(rng, lines)
    lines[a], lines[b] = lines[b], lines[a]
    return lines


@_text
def _indent(rng: random.Random, lines: list[str]) -> list[str]:
    for _ in range(rng.randint(1, 3)):
        at = _pick_line(rng, lines)
        body = lines[at].lstrip(" ")
        width = len(lines[at]) - len(body)
        new = max(0, width + rng.choice((-4, -2, -1, 1, 2, 4)))
        lines[at] = ("\t" + body) if rng.random() < 0.2 else " " * new + body
    return lines


def _scalar_lines(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if _SCALAR.match(line.rstrip("\n"))]


def _replace_scalar(rng: random.Random, lines: list[str], value: str) -> list[str]:
    found = _scalar_lines(lines)
    if not found:
        return [*lines, f"x: {value}\n"]
    at = rng.choice(found)
    m = _SCALAR.match(lines[at].rstrip("\n"))
    assert m is not None
    lines[at] = f"{m[1]}{value}\n"
    return lines


@_text
def _swap_scalar(rng: random.Random, lines: list[str]) -> list[str]:
    return _replace_scalar(rng, lines, rng.choice(HOSTILE_VALUES))


@_text
def _long_number(rng: random.Random, lines: list[str]) -> list[str]:
    digits = "".join(rng.choice("0123456789") for _ in range(rng.choice((11, 21, 400, 4301, 10_000))))
    return _replace_scalar(rng, lines, rng.choice(("", "-", "0.", "1e")) + digits)


@_text
def _tag(rng: random.Random, lines: list[str]) -> list[str]:
    return _replace_scalar(rng, lines, rng.choice(TAGS))


@_text
def _nest(rng: random.Random, lines: list[str]) -> list[str]:
    depth = rng.choice((5, 31, 33, 100, 600, 1200, 5000))
    value = "[" * depth + "]" * depth if rng.random() < 0.5 else "{a: " * depth + "1" + "}" * depth
    if rng.random() < 0.3:
        block = "".join("  " * i + f"k{i}:\n" for i in range(min(depth, 200)))
        return [*lines, block]
    return _replace_scalar(rng, lines, value)


@_text
def _alias(rng: random.Random, lines: list[str]) -> list[str]:
    kind = rng.randrange(3)
    if kind == 0:
        bomb = "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9))
        return [*lines, bomb] if rng.random() < 0.5 else [bomb, *lines]
    if kind == 1:
        return _replace_scalar(rng, lines, "&s [*s]")
    found = _scalar_lines(lines)
    if len(found) < 2:
        return lines
    a, b = sorted(rng.sample(found, 2))
    ma, mb = _SCALAR.match(lines[a].rstrip("\n")), _SCALAR.match(lines[b].rstrip("\n"))
    assert ma is not None and mb is not None
    lines[a], lines[b] = f"{ma[1]}&v {ma[2]}\n", f"{mb[1]}*v\n"
    return lines


@_text
def _escape(rng: random.Random, lines: list[str]) -> list[str]:
    char = rng.choice(("\\0", "\\a", "\\e", "\\x85", "\\u2028", "\\uFFFE", "\\ud800", "\\t", "\\n", "\\x7f", "\\x9b"))
    found = _scalar_lines(lines)
    if not found:
        return lines
    at = rng.choice(found)
    m = _SCALAR.match(lines[at].rstrip("\n"))
    assert m is not None
    inner = m[2].strip("\"'").replace("\\", "\\\\").replace('"', '\\"')
    cut = rng.randrange(len(inner) + 1)
    lines[at] = f'{m[1]}"{inner[:cut]}{char}{inner[cut:]}"\n'
    return lines


@_text
def _long_line(rng: random.Random, lines: list[str]) -> list[str]:
    size = rng.choice((10_000, 100_000, 999_000, 1_100_000, 4_100_000))
    filler = rng.choice(("x", "ab ", "é", "\U0001f600", "- "))
    return _replace_scalar(rng, lines, '"' + filler * (size // len(filler.encode())) + '"')


@_text
def _duplicate_key(rng: random.Random, lines: list[str]) -> list[str]:
    found = _scalar_lines(lines)
    if not found:
        return lines
    at = rng.choice(found)
    return lines[:at + 1] + [lines[at]] * rng.choice((1, 1, 2, 5000)) + lines[at + 1:]


@_text
def _unknown_key(rng: random.Random, lines: list[str]) -> list[str]:
    at = _pick_line(rng, lines)
    indent = len(lines[at]) - len(lines[at].lstrip(" "))
    key = rng.choice(("bogus", "widnow", "<<", "? [a]", "1", "null", "'a\\0'", "\"\\e\"", "id", "steps", "-x"))
    return lines[:at] + [" " * indent + f"{key}: 1\n"] * rng.choice((1, 1, 3, 20_000)) + lines[at:]


@_text
def _documents(rng: random.Random, lines: list[str]) -> list[str]:
    extra = rng.choice(("---\n", "...\n", "--- a\n", "---\nb: 2\n", "%YAML 1.1\n---\n", "%TAG ! tag:x,2000:\n---\n",
                        "%YAML 9.9\n---\n", "<<: {a: 1}\n", "? [a, b]\n: c\n", "? {a: 1}\n: c\n", "&x\n", "!\n"))
    at = rng.choice((0, len(lines), _pick_line(rng, lines)))
    return [*lines[:at], extra, *lines[at:]]


@_text
def _many_steps(rng: random.Random, lines: list[str]) -> list[str]:
    steps = [i for i, line in enumerate(lines) if line.startswith("  - ")]
    if not steps:
        return lines
    at = rng.choice(steps)
    end = next((i for i in range(at + 1, len(lines)) if not lines[i].startswith("    ")), len(lines))
    return lines[:end] + lines[at:end] * rng.choice((100, 999, 1001, 5000, 30_000)) + lines[end:]


@_text
def _notation(rng: random.Random, lines: list[str]) -> list[str]:
    found = [i for i, line in enumerate(lines) if re.search(r"(send|expect): \"", line)]
    if not found:
        return lines
    at = rng.choice(found)
    line = lines[at].rstrip("\n")
    close = line.rfind('"')
    token = rng.choice(NOTATION)
    cut = rng.randint(line.index('"') + 1, max(close, line.index('"') + 1)) if rng.random() < 0.5 else close
    lines[at] = line[:cut] + token + line[cut:] + "\n"
    return lines


@_text
def _flow_scalar(rng: random.Random, lines: list[str]) -> list[str]:
    found = [i for i, line in enumerate(lines) if "{" in line and ":" in line]
    if not found:
        return lines
    at = rng.choice(found)
    spots = list(re.finditer(r"(\w+): ([^,{}\[\]]+)", lines[at]))
    if not spots:
        return lines
    m = rng.choice(spots)
    value = rng.choice(HOSTILE_VALUES).replace("\n", " ")
    lines[at] = lines[at][:m.start(2)] + value + lines[at][m.end(2):]
    return lines


@_text
def _swap_key(rng: random.Random, lines: list[str]) -> list[str]:
    found = _scalar_lines(lines) + [i for i, line in enumerate(lines) if line.rstrip().endswith(":")]
    if not found:
        return lines
    at = rng.choice(found)
    lines[at] = re.sub(r"^(\s*(?:- )?)[\w$?.-]+:", lambda m: f"{m[1]}{rng.choice(KEYS)}:", lines[at], count=1)
    return lines


@_text
def _insert_step(rng: random.Random, lines: list[str]) -> list[str]:
    steps = [i for i, line in enumerate(lines) if line.startswith("  - ")]
    at = rng.choice(steps) if steps else len(lines)
    return [*lines[:at], rng.choice(STEPS), *lines[at:]]


def _whole(rng: random.Random, data: bytes) -> bytes:
    return rng.choice((b"", b"   \n\n", b"# only a comment\n", b"~\n", b"[]\n", b"{}\n", b"- a\n- b\n", b"just words\n",
                       b"\x00" * 16, rng.randbytes(rng.randint(1, 4000)), b"id: x\n" * 3, b"\xef\xbb\xbf", b"\r\n\r\n"))


MUTATIONS: dict[str, Callable[[random.Random, bytes], bytes]] = {
    "flip-byte": _flip_byte, "delete-bytes": _delete_bytes, "insert-bytes": _insert_bytes, "truncate": _truncate,
    "bad-utf8": _bad_utf8, "control-byte": _control_byte, "encoding": _encoding, "newlines": _newlines,
    "delete-line": _delete_line, "duplicate-line": _duplicate_line, "swap-lines": _swap_lines, "indent": _indent,
    "swap-scalar": _swap_scalar, "long-number": _long_number, "tag": _tag, "nest": _nest, "alias": _alias,
    "escape": _escape, "long-line": _long_line, "duplicate-key": _duplicate_key, "unknown-key": _unknown_key,
    "documents": _documents, "many-steps": _many_steps, "notation": _notation, "whole": _whole,
    "flow-scalar": _flow_scalar, "swap-key": _swap_key, "insert-step": _insert_step,
}
"""Every mutation by name; the weights of :data:`WEIGHTS` say how often each is drawn."""

WEIGHTS = {name: 1.0 for name in MUTATIONS} | {
    "swap-scalar": 6.0, "notation": 4.0, "flow-scalar": 3.0, "swap-key": 2.0, "insert-step": 3.0, "flip-byte": 3.0,
    "delete-line": 2.0, "duplicate-line": 2.0, "indent": 2.0,
    "long-line": 0.3, "many-steps": 0.4, "whole": 0.3, "encoding": 0.5,
}
"""Cheap, varied mutations most often; those that make megabyte files rarely (each costs a second)."""


MAX_MUTANT = 6 << 20
"""Bytes a mutant is cut to after each mutation: half again the most the loader reads, so files past
its limit are still tried, while mutations multiplying each other stay a few megabytes."""
MATRIX_WEIGHT = 7.0
"""The matrix table is one file of 53, but a code path of its own: drawn about one time in nine."""


@cache
def sources() -> tuple[tuple[str, bytes], ...]:
    """The bundled case files and matrix table, by name relative to their folder, and their bytes."""
    root = Path(bundled_cases())
    return tuple((str(p.relative_to(root)), p.read_bytes()) for p in sorted(root.rglob("*.yaml")))


def mutant(seed: int, index: int) -> Mutant:
    """Mutant ``index`` of campaign ``seed``: always the same file for the same two numbers."""
    rng = random.Random(f"tcpconform case fuzz {seed}/{index}")
    found = sources()
    name, data = rng.choices(found, weights=[MATRIX_WEIGHT if "matrix" in n else 1.0 for n, _ in found])[0]
    names = list(WEIGHTS)
    applied = rng.choices(names, weights=[WEIGHTS[n] for n in names], k=rng.choice((1, 1, 1, 2, 2, 3)))
    for mutation in applied:
        data = MUTATIONS[mutation](rng, data)[:MAX_MUTANT]
    return name, "+".join(applied), data
