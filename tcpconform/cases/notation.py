"""How case files write segments and their options.

A case file describes a segment either in one line, packetdrill/tcpdump style::

    S 0:0(0) win 5000 <mss 512>
    S. 100:100(0) ack 1 win $window
    P. 1:513(512) ack 101

or as a mapping with Scapy's field names (``{flags: S, seq: 0, window: 5000}``).  Both become the
same :class:`~tcpconform.cases.model.SegmentSpec`.  The one-line form is the one people read in reports,
so the mapping form is rendered back into it (:func:`render_segment`).

Values and durations are :mod:`tcpconform.cases.values`'s; option kinds are
:mod:`tcpconform.tcp.options`'s spoken ones.  Errors are :class:`~tcpconform.cases.values.NotationError`
with the 1-based column inside the text, so the loader can point at the exact character in the case
file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tcpconform.cases.model import (
    ANY,
    AnyValue,
    FieldSpec,
    OptionSpec,
    OptionsSpec,
    Range,
    SegmentSpec,
    Var,
    spec_str,
)
from tcpconform.cases.values import (
    VALUE_HELP,
    NotationError,
    check_value,
    did_you_mean,
    field_value,
    parse_value,
    quoted,
    to_int,
)
from tcpconform.tcp import seqnum
from tcpconform.tcp.options import BY_NUMBER, BY_WORD, RAW, SACK, SPOKEN, OptionKind
from tcpconform.tcp.segment import Flags

OPTION_NAMES = tuple(SPOKEN)
"""The option kinds a case file writes by name, in the order error messages list them."""
_VALUE_CHARS = re.compile(r"[A-Za-z0-9_$?*.+-]*")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9-]*")


def parse_flags(text: str) -> Flags | AnyValue:
    """``*``, ``none``, or flag letters (tcpdump's ``S.``/``P.``/``.`` or Scapy's ``SA``/``PA``)."""
    if text == "*":
        return ANY
    if text == "none":
        return Flags(0)
    if not text:
        raise NotationError("expected flags such as S, S., P., F., R, '.' or SA", 1)
    for i, ch in enumerate(text):
        try:
            Flags.parse(ch)
        except ValueError:
            raise NotationError(
                f"unknown flag {ch!r} in {text!r} (tcpdump: S F R P U E W N and '.' for ACK; "
                f"Scapy: F S R P A U E C N; or '*')", i + 1) from None
    return Flags.parse(text)


# --- the one-line form --------------------------------------------------------------------------


class _Scanner:
    """A cursor over one line of notation that knows the column of everything it reads."""

    def __init__(self, text: str, send: bool) -> None:
        self.text = text
        self.pos = 0
        self.send = send

    def error(self, message: str, pos: int | None = None) -> NotationError:
        return NotationError(message, (self.pos if pos is None else pos) + 1)

    def ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, ch: str, what: str) -> None:
        if self.peek() != ch:
            got = repr(self.peek()) if self.peek() else "the end"
            raise self.error(f"expected {ch!r} {what} (got {got})")
        self.pos += 1

    def word(self) -> tuple[str, int]:
        m = _WORD.match(self.text, self.pos)
        start = self.pos
        if not m:
            return "", start
        self.pos = m.end()
        return m[0], start

    def value(self, field: str, label: str = "", *, send: bool | None = None) -> tuple[FieldSpec, int]:
        """A value at the cursor, checked for ``field``; errors call it ``label`` (the word written)."""
        label = label or field
        self.ws()
        start = self.pos
        m = _VALUE_CHARS.match(self.text, self.pos)
        raw = m[0] if m else ""
        if not raw:
            raise self.error(f"{label}: expected {VALUE_HELP}")
        self.pos = start + len(raw)
        try:
            value = parse_value(raw)
            check_value(value, field, send=self.send if send is None else send)
        except NotationError as exc:
            raise self.error(f"{label}: {exc.message}", start) from None
        return value, start


def parse_segment(text: str, *, send: bool = False) -> SegmentSpec:
    """Parse ``FLAGS [SEQ:END(LEN)] [ack V] [win V] [urg V] [<options>]``.

    With ``send``, only definite values (integers and ``$name[+n]``) are accepted, since the tester
    cannot send a wildcard.
    """
    sc = _Scanner(text, send)
    sc.ws()
    start = sc.pos
    while sc.pos < len(text) and not text[sc.pos].isspace():
        sc.pos += 1
    flags_text = text[start:sc.pos]
    if not flags_text:
        raise NotationError("empty segment: expected flags such as S, S., P., F. or '.'", 1)
    try:
        flags = parse_flags(flags_text)
    except NotationError as exc:
        raise sc.error(exc.message, start + (exc.column or 1) - 1) from None
    if send and flags is ANY:
        raise sc.error("a sent segment needs definite flags, not '*'", start)
    fields: dict[str, Any] = {}
    sc.ws()
    if sc.peek() and sc.peek() in "0123456789*$?":
        fields["seq"], fields["length"] = _triple(sc)
    keywords = {"ack": "ack", "win": "window", "urg": "urgptr"}
    while True:
        sc.ws()
        if not sc.peek():
            break
        if sc.peek() == "<":
            fields["options"] = _options(sc)
            sc.ws()
            if sc.peek():
                raise sc.error(f"unexpected {text[sc.pos:]!r} after the options (they come last)")
            break
        word, at = sc.word()
        if word not in keywords:
            hint = did_you_mean(word, keywords) if word else ""
            got = repr(word) if word else repr(sc.peek())
            raise sc.error(f"unexpected {got}{hint}: expected ack, win, urg or <options>", at)
        if keywords[word] in fields:
            raise sc.error(f"{word!r} is given twice", at)
        fields[keywords[word]], _ = sc.value(keywords[word], word)
    return SegmentSpec(flags=flags, text=text.strip(), **fields)


def end_of(seq: FieldSpec, length: FieldSpec) -> FieldSpec | None:
    """``seq + length`` when it can be written down, else ``None``."""
    if isinstance(seq, Var) and isinstance(length, Var):
        return None
    if isinstance(seq, int) and isinstance(length, int):
        return seqnum.add(seq, length)
    if isinstance(seq, Var) and isinstance(length, int):
        return Var(seq.name, seq.offset + length)
    if isinstance(length, Var) and isinstance(seq, int):
        return Var(length.name, length.offset + seq)
    if isinstance(seq, int | Range) and isinstance(length, int | Range):
        lo = (seq, seq) if isinstance(seq, int) else (seq.lo, seq.hi)
        ln = (length, length) if isinstance(length, int) else (length.lo, length.hi)
        return Range(lo[0] + ln[0], lo[1] + ln[1])
    return None


def _triple(sc: _Scanner) -> tuple[FieldSpec, FieldSpec]:
    """``SEQ:END(LEN)``: END is redundant, so it must agree with SEQ + LEN or be ``*``."""
    seq, _ = sc.value("seq", "SEQ")
    sc.expect(":", "between SEQ and END in SEQ:END(LEN)")
    end, end_at = sc.value("end", "END", send=False)
    sc.expect("(", "before LEN in SEQ:END(LEN)")
    length, _ = sc.value("length", "LEN")
    sc.expect(")", "after LEN in SEQ:END(LEN)")
    if end is ANY:
        return seq, length
    want = end_of(seq, length)
    if want is None:
        raise sc.error(
            f"END {spec_str(end)} cannot be checked: SEQ {spec_str(seq)} + LEN {spec_str(length)} has no "
            f"definite end, so write END as '*'", end_at)
    if end != want:
        raise sc.error(
            f"END must be SEQ + LEN: {spec_str(seq)} + {spec_str(length)} = {spec_str(want)}, "
            f"not {spec_str(end)}", end_at)
    return seq, length


def _options(sc: _Scanner) -> OptionsSpec:
    """``<item,item,...>``; ``...`` among the items lets other options appear around them."""
    sc.expect("<", "to open the options")
    items: list[OptionSpec] = []
    open_ended = False
    sc.ws()
    if sc.peek() == ">":
        sc.pos += 1
        return OptionsSpec()
    while True:
        sc.ws()
        if sc.text.startswith("...", sc.pos):
            if sc.send:
                raise sc.error("a sent segment needs definite options: '...' is for expectations")
            sc.pos += 3
            open_ended = True
        else:
            items.append(_option(sc))
        sc.ws()
        if sc.peek() == ">":
            sc.pos += 1
            return OptionsSpec(tuple(items), open_ended)
        sc.expect(",", "between options (or '>' to close them)")


_OPTION_WORDS = ("mss", "wscale", "sackOK", "TS", "nop", "eol", "sack", "opt-", "raw")
_OPTION_HELP = ("mss V, wscale V, sackOK, TS val V ecr V, nop, eol, sack L:R ..., opt-KIND HEX, "
                "raw HEX (sent only) or '...'")


def _option(sc: _Scanner) -> OptionSpec:
    word, at = sc.word()
    known = BY_WORD.get(word)
    if known is not None and known.valueless:
        return OptionSpec(known.name)
    if known is not None and known.arity == 1:
        return OptionSpec(known.name, sc.value(word)[0])
    if word == "TS":
        pair = []
        for label in ("val", "ecr"):
            sc.ws()
            got, got_at = sc.word()
            if got != label:
                raise sc.error(f"expected 'TS val V ecr V' (missing {label!r})", got_at)
            pair.append(sc.value(f"TS {label}")[0])
        return OptionSpec("Timestamp", (pair[0], pair[1]))
    if word == "sack":
        blocks: list[FieldSpec] = []
        while True:
            sc.ws()
            if sc.peek() in (",", ">", ""):
                break
            blocks.append(sc.value("sack")[0])
            sc.expect(":", "between a SACK block's left and right edges (sack L:R ...)")
            blocks.append(sc.value("sack")[0])
        if not blocks:
            raise sc.error("expected at least one SACK block: sack L:R [L:R ...]")
        return OptionSpec("SAck", tuple(blocks))
    if word == "raw":
        if not sc.send:
            raise sc.error("'raw HEX' is for segments to send (option bytes verbatim, malformed ones too); "
                           "an expectation writes options by name or opt-KIND", at)
        data = _hex(sc)
        if not data:
            raise sc.error("'raw' needs the option bytes in hex (kind, length, data: e.g. raw fd00)", at)
        return OptionSpec(RAW, data)
    m = re.fullmatch(r"opt-([0-9]+)", word)
    if m:
        kind = int(m[1]) if len(m[1]) <= 3 else 256  # no kind byte has more than three digits
        return OptionSpec(_raw_kind(kind, sc.error, at), _hex(sc))
    hint = did_you_mean(word, _OPTION_WORDS) if word else ""
    got = repr(word) if word else repr(sc.peek() or "the end")
    raise sc.error(f"unknown option {got}{hint}: expected {_OPTION_HELP}", at)


def _raw_kind(kind: int, error: Any, at: int) -> str:
    """Named kinds must be written by name, or the engine would compare raw bytes to parsed values."""
    if not 0 <= kind <= 255:
        raise error(f"option kind {kind} is out of range (0..255)", at)
    known = BY_NUMBER.get(kind)
    if known is not None and known.word is not None:
        raise error(f"option kind {kind} is {known.name}: write it by name", at)
    return str(kind)


def _hex(sc: _Scanner) -> bytes:
    sc.ws()
    m = re.compile(r"[0-9A-Fa-f]*").match(sc.text, sc.pos)
    raw = m[0] if m else ""
    start = sc.pos
    sc.pos += len(raw)
    if len(raw) % 2:
        raise sc.error(f"raw option data {raw!r} has an odd number of hex digits", start)
    return bytes.fromhex(raw)


# --- the mapping form ---------------------------------------------------------------------------

Problem = tuple[tuple[str | int, ...], str]
"""A mistake found in a mapping: the path below the segment and what is wrong there."""


def build_segment(data: Mapping[str, Any], *, send: bool = False) -> tuple[SegmentSpec | None, list[Problem]]:
    """The :class:`SegmentSpec` of a segment written as a mapping with Scapy's field names.

    Structure (which keys, which types) is the schema's business; this checks the values and
    reports every mistake rather than the first.
    """
    problems: list[Problem] = []
    fields: dict[str, Any] = {}

    def attempt(path: tuple[str | int, ...], fn: Any, *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except NotationError as exc:
            problems.append((path, exc.message))
            return None

    flags = None
    if isinstance(data.get("flags"), str) and data["flags"].strip():
        flags = attempt(("flags",), parse_flags, data["flags"].strip())
        if send and flags is ANY:
            problems.append((("flags",), "a sent segment needs definite flags, not '*'"))
    for key, name in (("seq", "seq"), ("ack", "ack"), ("window", "window"), ("len", "length"),
                      ("urgptr", "urgptr")):
        if isinstance(data.get(key), int | str) and not isinstance(data.get(key), bool):
            fields[name] = attempt((key,), field_value, data[key], name, send=send)
    if "options" in data:
        fields["options"] = attempt(("options",), _options_value, data["options"], send, problems)
    payload = data.get("payload")
    if isinstance(payload, str):
        fields["payload"] = payload.encode()
    elif isinstance(payload, Mapping) and isinstance(payload.get("hex"), str):
        fields["payload"] = attempt(("payload", "hex"), _hex_bytes, payload["hex"])
    if fields.get("payload") is not None:
        n = len(fields["payload"])
        if fields.get("length") is None and "len" not in data:
            fields["length"] = n
        elif isinstance(fields.get("length"), int) and fields["length"] != n:
            problems.append((("len",), f"len {fields['length']} differs from the payload's {n} bytes"))
    for key in ("chksum", "reserved", "dataofs"):
        if key in data:
            fields[key] = data[key]
    if problems or flags is None:
        return None, problems
    spec = SegmentSpec(flags=flags, **fields)
    return SegmentSpec(flags=flags, text=render_segment(spec), **fields), problems


def _hex_bytes(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise NotationError(f"expected pairs of hex digits such as '0a0b' (got {text!r})") from None


def _options_value(raw: Any, send: bool, problems: list[Problem]) -> OptionsSpec | AnyValue | None:
    """``"<mss 512,nop>"``, ``"..."`` (any options), ``"*"``, or a list of ``[name, value]``/``name``."""
    if isinstance(raw, str):
        text = raw.strip()
        if text in ("...", "*"):
            if send:
                raise NotationError("a sent segment needs definite options, not " + repr(text))
            return OptionsSpec(open_ended=True) if text == "..." else ANY
        sc = _Scanner(text, send)
        spec = _options(sc)
        sc.ws()
        if sc.peek():
            raise sc.error(f"unexpected {text[sc.pos:]!r} after the options")
        return spec
    if not isinstance(raw, list):
        return None
    items: list[OptionSpec] = []
    open_ended = False
    for i, item in enumerate(raw):
        if not isinstance(item, str | int | list) or isinstance(item, bool) or item == []:
            continue  # the schema reports these
        if item == "...":
            if send:
                problems.append((("options", i), "a sent segment needs definite options: '...' is for "
                                 "expectations"))
            open_ended = True
            continue
        try:
            items.append(_option_item(item, send))
        except NotationError as exc:
            problems.append((("options", i), exc.message))
    return OptionsSpec(tuple(items), open_ended)


def _option_item(item: Any, send: bool) -> OptionSpec:
    name, value = (item, None) if not isinstance(item, list) else [*item, None][:2]
    if isinstance(name, int) or (isinstance(name, str) and re.fullmatch("[0-9]+", name)):
        raw = value.get("hex") if isinstance(value, Mapping) else value if value is not None else ""
        if not isinstance(raw, str):
            raise NotationError(f"option {name}: expected hex data such as '0102' (got {quoted(raw)})")
        return OptionSpec(_raw_kind(to_int(str(name)), lambda m, _at: NotationError(m), 0), _hex_bytes(raw))
    if name not in OPTION_NAMES:
        raise NotationError(f"unknown option {name!r}{did_you_mean(str(name), OPTION_NAMES)}: expected "
                            f"one of {', '.join(OPTION_NAMES)} or a kind number")
    known = SPOKEN[name]
    if known.valueless:
        if value is not None:
            raise NotationError(f"option {name} takes no value (got {value!r})")
        return OptionSpec(name)
    if known.arity == 1:
        if value is None:
            raise NotationError(f"option {name} needs a value: [{name}, V]")
        return OptionSpec(name, field_value(value, name.lower(), send=send))
    pairs = value if isinstance(value, list) else []
    if name == "Timestamp":
        if len(pairs) != 2:
            raise NotationError(f"option Timestamp needs [val, ecr] (got {value!r})")
        return OptionSpec(name, (field_value(pairs[0], "TS val", send=send),
                                 field_value(pairs[1], "TS ecr", send=send)))
    if not pairs or len(pairs) % 2:
        raise NotationError(f"option SAck needs a flat list of edges [L1, R1, L2, R2...] (got {value!r})")
    return OptionSpec(name, tuple(field_value(v, "sack", send=send) for v in pairs))


# --- rendering ----------------------------------------------------------------------------------


def render_options(options: OptionsSpec | AnyValue) -> str:
    """The notation of an option list: ``<mss 512,nop,...>``."""
    if isinstance(options, AnyValue):
        return "<...>"
    parts = []
    for opt in options.items:
        v = opt.value
        known = SPOKEN.get(opt.kind)
        if known is not None and known.render is not None and (isinstance(v, tuple) or not _fields(known)):
            parts.append(known.render(v, spec_str))
        elif opt.kind == RAW and isinstance(v, bytes):
            parts.append(f"raw {v.hex()}")
        else:
            parts.append(f"opt-{opt.kind} {v.hex() if isinstance(v, bytes) else ''}".rstrip())
    if options.open_ended:
        parts.append("...")
    return "<" + ",".join(parts) + ">"


def _fields(kind: OptionKind) -> bool:
    """Whether a kind's value is a tuple of fields: SACK's edges, or a layout of several."""
    return kind.number == SACK or kind.arity > 1


def render_segment(spec: SegmentSpec) -> str:
    """The one-line notation of a spec; fields only the mapping form has are appended in brackets."""
    flags = "*" if isinstance(spec.flags, AnyValue) else spec.flags.tcpdump()
    out = [flags]
    if spec.seq is not None or spec.length is not None:
        seq = spec.seq if spec.seq is not None else ANY
        length = spec.length if spec.length is not None else ANY
        end = end_of(seq, length)
        out.append(f"{spec_str(seq)}:{spec_str(end if end is not None else ANY)}({spec_str(length)})")
    for word, value in (("ack", spec.ack), ("win", spec.window), ("urg", spec.urgptr)):
        if value is not None:
            out.append(f"{word} {spec_str(value)}")
    if spec.options is not None:
        out.append(render_options(spec.options))
    extra = [f"{name} {value}" for name, value in
             (("chksum", spec.chksum), ("reserved", spec.reserved), ("dataofs", spec.dataofs))
             if value is not None]
    if spec.payload is not None:
        extra.append(f"payload {spec.payload.hex() or '(empty)'}")
    if extra:
        out.append("[" + ", ".join(extra) + "]")
    return " ".join(out)
