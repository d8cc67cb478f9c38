"""The one-line segment notation, values, durations, and the mapping form they must agree with."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from tcpconform.cases.model import ANY, Capture, OptionSpec, OptionsSpec, Range, SegmentSpec, Var
from tcpconform.cases.notation import build_segment, parse_segment, render_segment
from tcpconform.cases.values import NotationError, parse_duration, parse_value
from tcpconform.tcp.segment import Flags

SA = Flags.SYN | Flags.ACK


def bare(spec: SegmentSpec) -> SegmentSpec:
    """The spec without its source text, for comparing specs written differently."""
    return replace(spec, text="")


# --- the seed's segments ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("S 0:0(0) win 5000 <mss 512>",
     SegmentSpec(Flags.SYN, seq=0, length=0, window=5000, options=OptionsSpec((OptionSpec("MSS", 512),)))),
    ("S. 100:100(0) ack 1 win 65535", SegmentSpec(SA, seq=100, length=0, ack=1, window=65535)),
    ("P. 1:513(512) ack 101", SegmentSpec(Flags.PSH | Flags.ACK, seq=1, length=512, ack=101)),
    (". 101:101(0) ack 1025", SegmentSpec(Flags.ACK, seq=101, length=0, ack=1025)),
    ("F. 1025:1025(0) ack 801", SegmentSpec(Flags.FIN | Flags.ACK, seq=1025, length=0, ack=801)),
])
def test_seed_segments(text: str, expected: SegmentSpec) -> None:
    spec = parse_segment(text)
    assert bare(spec) == expected
    assert spec.text == text
    assert render_segment(spec) == text


# --- flags --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tcpdump", "scapy"), [("S.", "SA"), ("F.", "FA"), ("P.", "PA"), (".", "A"),
                                                ("R.", "RA"), ("SEW", "SEC"), ("U.", "UA"), ("N", "N")])
def test_tcpdump_and_scapy_flags_agree(tcpdump: str, scapy: str) -> None:
    assert parse_segment(tcpdump).flags == parse_segment(scapy).flags


def test_wildcard_and_empty_flags() -> None:
    assert parse_segment("*").flags is ANY
    assert parse_segment("none 1:1(0)").flags == Flags(0)


def test_bad_flag_letter_names_the_letter_and_its_column() -> None:
    with pytest.raises(NotationError) as info:
        parse_segment("SX 0:0(0)")
    assert info.value.column == 2
    assert "unknown flag 'X'" in info.value.message


# --- values -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [
    ("512", 512), ("*", ANY), ("1..5", Range(1, 5)), ("$window", Var("window")),
    ("$isn+1", Var("isn", 1)), ("$srv_win-10", Var("srv_win", -10)), ("?peer_win", Capture("peer_win")),
])
def test_values(text: str, value: object) -> None:
    assert parse_value(text) == value


@pytest.mark.parametrize("text", ["abc", "$Window", "1..", "5..1", "-3", "$", "?1x", "1.5"])
def test_bad_values(text: str) -> None:
    with pytest.raises(NotationError):
        parse_value(text)


def test_every_field_takes_every_value_form() -> None:
    spec = parse_segment("S. $isn:*(*) ack ?a win 1..100 urg $u+2")
    assert (spec.seq, spec.length, spec.ack, spec.window, spec.urgptr) == (
        Var("isn"), ANY, Capture("a"), Range(1, 100), Var("u", 2))


# --- SEQ:END(LEN) -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seq", "length"), [
    ("P. 1:513(512)", 1, 512),
    ("P. $isn+1:$isn+513(512)", Var("isn", 1), 512),
    ("P. $isn+1:*(512)", Var("isn", 1), 512),
    ("P. 1:*(1..512)", 1, Range(1, 512)),
    ("P. 1:2..513(1..512)", 1, Range(1, 512)),
    ("P. 0..10:512..522(512)", Range(0, 10), 512),
    ("P. ?s:*(*)", Capture("s"), ANY),
    ("P. 4294967295:511(512)", 4294967295, 512),  # END wraps like the sequence space
])
def test_triple(text: str, seq: object, length: object) -> None:
    spec = parse_segment(text)
    assert (spec.seq, spec.length) == (seq, length)


def test_end_must_be_seq_plus_len() -> None:
    with pytest.raises(NotationError) as info:
        parse_segment("P. 1:512(512) ack 101")
    assert "1 + 512 = 513, not 512" in info.value.message
    assert info.value.column == 6


@pytest.mark.parametrize("text", ["P. $isn:5(0)", "P. 1:513(*)", "P. ?s:1(0)"])
def test_end_that_cannot_be_derived_must_be_a_wildcard(text: str) -> None:
    with pytest.raises(NotationError, match="END"):
        parse_segment(text)


def test_missing_parts_are_none() -> None:
    spec = parse_segment("R")
    assert (spec.seq, spec.ack, spec.window, spec.length, spec.urgptr, spec.options) == (None,) * 6


def test_keywords_in_any_order_but_once() -> None:
    assert bare(parse_segment(". win 5 ack 3")) == bare(parse_segment(". ack 3 win 5"))
    with pytest.raises(NotationError, match="given twice"):
        parse_segment(". ack 1 ack 2")


def test_unknown_keyword_suggests_the_right_one() -> None:
    with pytest.raises(NotationError) as info:
        parse_segment("S 0:0(0) wn 5000")
    assert "did you mean 'win'" in info.value.message
    assert info.value.column == 10


@pytest.mark.parametrize(("text", "words"), [
    ("S 0:0(0", "')' after LEN"), ("S 0:0 win 5", "'(' before LEN"), ("S. 0:0(0) win 70000", "out of range"),
    ("S. 0:0(0) <mss 512> win 5", "options"), ("S. 0:0(0) win", "win: expected"),
])
def test_malformed_segments(text: str, words: str) -> None:
    with pytest.raises(NotationError, match=re.escape(words)):
        parse_segment(text)


# --- options ------------------------------------------------------------------------------------


def test_every_option() -> None:
    spec = parse_segment("S 0:0(0) <mss 512,wscale 7,sackOK,TS val 1 ecr 0,nop,eol,sack 1:513 1025:2049,"
                         "opt-253 0a0b>")
    assert spec.options == OptionsSpec((
        OptionSpec("MSS", 512), OptionSpec("WScale", 7), OptionSpec("SAckOK"),
        OptionSpec("Timestamp", (1, 0)), OptionSpec("NOP"), OptionSpec("EOL"),
        OptionSpec("SAck", (1, 513, 1025, 2049)), OptionSpec("253", b"\x0a\x0b"),
    ))


def test_open_ended_and_empty_options() -> None:
    assert parse_segment("S. <...>").options == OptionsSpec(open_ended=True)
    assert parse_segment("S. <mss *, ...>").options == OptionsSpec((OptionSpec("MSS", ANY),), True)
    assert parse_segment("S. <>").options == OptionsSpec()
    assert parse_segment("S.").options is None


@pytest.mark.parametrize(("text", "words"), [
    ("S <mss 512", "'>'"), ("S <msss 512>", "did you mean 'mss'"), ("S <opt-2 0000>", "is MSS"),
    ("S <opt-253 abc>", "odd number"), ("S <TS val 1>", "'ecr'"), ("S <sack>", "SACK block"),
])
def test_bad_options(text: str, words: str) -> None:
    with pytest.raises(NotationError, match=re.escape(words)):
        parse_segment(text)


# --- sends take definite values only --------------------------------------------------------------


@pytest.mark.parametrize(("text", "column"), [
    ("* 0:0(0)", 1), ("S 0:0(0) ack *", 14), ("S 0:*(1..2)", 7), ("S 0:0(0) win ?w", 14),
    ("S 0:0(0) <mss *>", 15), ("S 0:0(0) <mss 512,...>", 19),
])
def test_send_rejects_wildcards(text: str, column: int) -> None:
    parse_segment(text)  # fine as an expectation
    with pytest.raises(NotationError) as info:
        parse_segment(text, send=True)
    assert info.value.column == column


def test_send_accepts_variables_and_a_wildcard_end() -> None:
    spec = parse_segment("S $isn:*(0) ack $a+1 win 5000", send=True)
    assert (spec.seq, spec.ack) == (Var("isn"), Var("a", 1))


# --- durations ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "seconds"), [
    ("500ms", 0.5), ("1s", 1.0), ("1.5s", 1.5), ("250us", 250e-6), (2, 2.0), (0.5, 0.5), ("3", 3.0),
])
def test_durations(value: str | float, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [0, "0ms", -1, "abc", "5min", "ms", True])
def test_bad_durations(value: object) -> None:
    with pytest.raises(NotationError):
        parse_duration(value)  # type: ignore[arg-type]


# --- the mapping form ---------------------------------------------------------------------------


@pytest.mark.parametrize(("mapping", "text"), [
    ({"flags": "S", "seq": 0, "window": 5000, "len": 0, "options": [["MSS", 512]]},
     "S 0:0(0) win 5000 <mss 512>"),
    ({"flags": "SA", "seq": 100, "ack": 1, "window": "$window", "len": 0}, "S. 100:100(0) ack 1 win $window"),
    ({"flags": "S.", "options": "<mss 512,nop,...>"}, "S. <mss 512,nop,...>"),
    ({"flags": "A", "options": "..."}, ". <...>"),
    ({"flags": "PA", "seq": "$isn+1", "len": "1..512", "ack": "*"}, "P. $isn+1:*(1..512) ack *"),
    ({"flags": "S", "options": ["NOP", ["WScale", 7], "SAckOK", ["Timestamp", [5, "?ecr"]],
                                ["SAck", [1, 2, 3, 4]], [253, "0a0b"], "EOL"]},
     "S <nop,wscale 7,sackOK,TS val 5 ecr ?ecr,sack 1:2 3:4,opt-253 0a0b,eol>"),
    ({"flags": "*", "urgptr": 3}, "* urg 3"),
])
def test_mapping_form_equals_notation(mapping: dict[str, object], text: str) -> None:
    spec, problems = build_segment(mapping)
    assert problems == []
    assert spec is not None
    assert bare(spec) == bare(parse_segment(text))
    assert bare(parse_segment(spec.text)) == bare(spec)


def test_mapping_only_fields() -> None:
    spec, problems = build_segment({"flags": "PA", "payload": "hi", "chksum": "bad", "reserved": 2,
                                    "dataofs": 4})
    assert problems == []
    assert spec is not None
    assert (spec.payload, spec.length, spec.chksum, spec.reserved, spec.dataofs) == (b"hi", 2, "bad", 2, 4)
    hexed, _ = build_segment({"flags": "PA", "payload": {"hex": "0a0b"}})
    assert hexed is not None and hexed.payload == b"\n\x0b"


def test_mapping_form_reports_every_mistake_with_its_path() -> None:
    spec, problems = build_segment({"flags": "*", "seq": "*", "len": 3, "payload": "hi",
                                    "options": [["mss", 1], "..."]}, send=True)
    assert spec is None
    paths = {path: message for path, message in problems}
    assert set(paths) == {("flags",), ("seq",), ("len",), ("options", 0), ("options", 1)}
    assert "did you mean 'MSS'" in paths[("options", 0)]
    assert "differs from the payload's 2 bytes" in paths[("len",)]


def test_render_round_trip() -> None:
    for text in ["S. $isn:$isn(0) ack ?x win 1..5 <mss *,TS val 1 ecr 0,sack 1:2 3:4,...>", "* <...>",
                 "none 7:*(*) urg 1", "R. 0:0(0) ack 1 win 0 <>"]:
        spec = parse_segment(text)
        assert bare(parse_segment(render_segment(spec))) == bare(spec)
