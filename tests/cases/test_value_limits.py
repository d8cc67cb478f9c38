"""Values a case file can write in range one by one, yet that no run can honour: refused when the
file is loaded, at the line and field, with the limit (a segment no IP packet holds, options no
data offset can count, a wait of 10^300 seconds, a NaN threshold that passes every check, control
characters bound for junit.xml), and a whole-file mistake still at a line and column."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support.cases import BASE, LINE, errors, replace

from tcpconform.cases.document import CaseFileError
from tcpconform.cases.load import load_case, load_cases

F = "cases/x.yaml"
SEND = '  - send: "S 0:0(0) win 5000 <mss 512>"'
ISN_HEAD = "  - isn_sample: 5\n  - isn_check: unpredictable\n    min_bits: "
ISN = ISN_HEAD + "{}"
Write = Callable[..., str]


def one(write_case: Write, text: str) -> str:
    found = errors(write_case(text))
    assert len(found) == 1, found
    return found[0]


def step(new: str, old: str = SEND) -> str:
    return replace(BASE, old, new)


# --- segments that fit no packet ----------------------------------------------------------------


@pytest.mark.parametrize(("send", "where", "what"), [
    ("{flags: P, seq: 1, len: 65535}", ":35: steps[1].send.len:", "65535 bytes of data cannot go in one IP packet"),
    ("{flags: P, seq: 1, payload: {hex: '" + "00" * 65496 + "'}}", ":39: steps[1].send.payload:", "at most 65495"),
    ('"P. 1:65497(65496) ack 1"', ":22: steps[1].send:", "at most 65495"),
    ('"P. 1:65492(65491) ack 1 <mss 1,nop>"', ":22: steps[1].send:", "8 option bytes) holds at most 65487"),
])
def test_a_sent_segment_must_fit_an_ip_packet(write_case: Write, send: str, where: str, what: str) -> None:
    msg = one(write_case, step(f"  - send: {send}"))
    assert msg.startswith(f"{F}:{LINE['send']}{where}") and what in msg, msg


def test_over_ipv6_the_limit_is_the_payload_length(write_case: Write) -> None:
    text = replace(BASE, "faults: [bad-syn-ack]\n", "faults: [bad-syn-ack]\nfamily: ipv6\n")
    fits = replace(text, SEND, '  - send: {flags: P, seq: 1, len: 65515}')
    assert load_case(write_case(fits)).id == "sample"
    msg = one(write_case, replace(text, SEND, '  - send: {flags: P, seq: 1, len: 65516}'))
    assert "IPv6 (payload length 65535 - 20 TCP - 0 option bytes) holds at most 65515" in msg


def test_options_beyond_what_a_data_offset_counts(write_case: Write) -> None:
    sent = one(write_case, step('  - send: "S 0:0(0) <' + ",".join(["mss 1"] * 15) + '>"'))
    assert sent.startswith(f"{F}:{LINE['send']}:21: steps[1].send: the options take 60 bytes; a TCP header holds "
                           "at most 40"), sent
    padded = one(write_case, step('  - send: "S 0:0(0) <' + ",".join(["mss 1"] * 10) + ',nop>"'))
    assert "take 41, padded to 44 bytes" in padded
    as_list = one(write_case, step("  - send: {flags: S, options: [" + ", ".join(["[MSS, 1]"] * 11) + "]}"))
    assert "steps[1].send.options: the options take 44 bytes" in as_list
    expected = one(write_case, replace(BASE, "S. 100:100(0) ack 1 win 65535",
                                       "S. 100:100(0) ack 1 <" + ",".join(["TS val * ecr *"] * 5) + ">"))
    assert f":{LINE['expect']}:" in expected and "the options take 50 bytes" in expected
    at_most = step('  - send: "S 0:0(0) <' + ",".join(["mss 1"] * 10) + '>"')
    assert load_case(write_case(at_most)).id == "sample"


# --- durations ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "where"), [
    ("wait: 100ms", "wait: 1.0e+300", f"{LINE['wait']}:11: steps[5].wait"),
    ("within: 500ms", "within: 1.0e+300", f"{LINE['within']}:13: steps[2].within"),
    ("silence: 200ms", "silence: 86401", f"{LINE['silence']}:14: steps[3].silence"),
    ("wait: 100ms", "wait: 86400001ms", f"{LINE['wait']}:11: steps[5].wait"),
])
def test_a_duration_beyond_a_day(write_case: Write, old: str, new: str, where: str) -> None:
    msg = one(write_case, replace(BASE, old, new))
    assert msg.startswith(f"{F}:{where}: a duration must be greater than 0 and at most one day, 86400 s"), msg


@pytest.mark.parametrize(("old", "new", "where"), [
    ("wait: 100ms", "wait: 1" + "0" * 400, f"{LINE['wait']}:11: steps[5].wait: a duration must be"),
    ("within: 500ms", "within: -1" + "0" * 400, f"{LINE['within']}:13: steps[2].within: a duration must be"),
    (SEND, ISN_HEAD + "1" + "0" * 400, f"{LINE['send'] + 2}:15: steps[2].min_bits: expected at most 32"),
    ("tester: {window: 5000,", "tester: {window: 1" + "0" * 400 + ",", f"{LINE['tester']}:18: tester.window: expected at most"),
])
def test_an_integer_no_float_can_hold(write_case: Write, old: str, new: str, where: str) -> None:
    """PyYAML reads integers of any size; float() of one beyond 10^308 raises OverflowError."""
    msg = one(write_case, replace(BASE, old, new))
    assert msg.startswith(f"{F}:{where}"), msg


def test_a_day_is_allowed_and_so_is_no_more_in_all(write_case: Write) -> None:
    assert load_case(write_case(replace(BASE, "wait: 100ms", "wait: 86399"))).id == "sample"
    msg = one(write_case, replace(BASE, "wait: 100ms", "wait: 86400"))
    assert msg.startswith(f"{F}:{LINE['steps']}:1: steps: the case's durations add up to 86,401 s"), msg


# --- numbers: finite, in range, integers where integers go ---------------------------------------


@pytest.mark.parametrize(("bits", "reason"), [
    (".nan", "expected a number (got nan)"), (".inf", "expected a number (got inf)"),
    ("-.inf", "expected a number (got -inf)"), ("-1", "expected at least 0 (got -1)"),
    ("32.5", "expected at most 32 (got 32.5)"),
])
def test_min_bits_is_a_finite_number_in_range(write_case: Write, bits: str, reason: str) -> None:
    msg = one(write_case, step(ISN.format(bits)))
    assert msg == f"{F}:{LINE['send'] + 2}:15: steps[2].min_bits: {reason}", msg


@pytest.mark.parametrize(("new", "where"), [
    ("  - send: {flags: S, seq: 0, dataofs: 5.0}", "steps[1].send.dataofs: expected an integer (got 5.0)"),
    ("  - send: {flags: S, seq: 0, reserved: 1.0}", "steps[1].send.reserved: expected an integer (got 1.0)"),
    ("  - isn_sample: 5.0", "steps[1].isn_sample: expected an integer (got 5.0)"),
    ("  - app: {read: 2.0}", "steps[1].app.read: expected an integer (got 2.0)"),
    ("  - app: {write: 16777217}", "steps[1].app.write: expected at most 16,777,216 bytes"),
    ("  - app: write 99999999999999999999999", "write needs a byte count from 1 to 16,777,216"),
    ("  - app: write \u00b2", "write needs a byte count"),
    ("  - send: {flags: S, seq: '" + "9" * 5000 + "'}", "steps[1].send.seq: 999999999999... (5000 digits) is out of range"),
    ('  - send: "S ' + "9" * 5000 + ':*(0)"', "SEQ: 999999999999... (5000 digits) is out of range"),
    ('  - send: "S $x+' + "9" * 5000 + ':*(0)"', "(5001 digits) is out of range"),
    ('  - send: "S 0:0(0) <opt-' + "9" * 5000 + ' 00>"', "option kind 256 is out of range"),
    ("  - send: {flags: S, options: [[-1, '00']]}", "option kind -1 is out of range"),
])
def test_numbers_a_field_cannot_hold(write_case: Write, new: str, where: str) -> None:
    msg = one(write_case, step(new))
    assert msg.startswith(f"{F}:{LINE['send']}:") and where in msg, msg


def test_integers_given_as_floats_at_the_top(write_case: Write) -> None:
    text = replace(BASE, "tester: {window: 5000, mss: 512}", "tester: {window: 5000.0, mss: 512}\nnumbering: {tester: 1.0}")
    assert errors(write_case(text)) == [
        f"{F}:{LINE['tester']}:18: tester.window: expected an integer (got 5000.0)",
        f"{F}:{LINE['tester'] + 1}:21: numbering.tester: expected an integer (got 1.0)",
    ]


# --- text ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "where"), [
    ("title: Sample case", 'title: "Sample\\0case"', f"{LINE['title']}:8: title: the control character U+0000"),
    ("title: Sample case", 'title: "\\e[31mred"', f"{LINE['title']}:8: title: the control character U+001B"),
    ("title: Sample case", 'title: "two\\nlines"', f"{LINE['title']}:8: title: a line break (character 4)"),
    ("id: sample", 'id: "sample\\n"', f"{LINE['id']}:5: id: a line break (character 7)"),
    ("faults: [bad-syn-ack]", 'faults: [bad-syn-ack]\ntags: ["a\\tb"]', f"{LINE['faults'] + 1}:8: tags[0]: a tab"),
    ("ref: RFC 9293 3.5", 'ref: "RFC\\x85 9293"', f"{LINE['requirements'] + 2}:10: requirements[0].ref: a line break"),
    ("ref: RFC 9293 3.5", 'ref: "RFC \\uFFFE"', f"{LINE['requirements'] + 2}:10: requirements[0].ref: the control"),
    ("title: Sample case", 'title: t\n"bad\\0key": 1', f"{LINE['title'] + 1}:1: a key: the control character U+0000"),
])
def test_control_characters_are_refused(write_case: Write, old: str, new: str, where: str) -> None:
    found = errors(write_case(replace(BASE, old, new)))
    assert found[0].startswith(f"{F}:{where}"), found


def test_free_text_may_hold_tabs_and_lines_but_no_control_character(write_case: Write) -> None:
    text = replace(BASE, "title: Sample case", 'title: Sample case\ndescription: "one\\tcolumn\\nand a line"')
    assert load_case(write_case(text)).description == "one\tcolumn\nand a line"
    msg = one(write_case, replace(BASE, "title: Sample case", 'title: Sample case\ndescription: "bell\\a"'))
    assert msg.startswith(f"{F}:{LINE['title'] + 1}:14: description: the control character U+0007"), msg


# --- whole-file mistakes, still at a line -------------------------------------------------------


@pytest.mark.parametrize(("data", "where", "what"), [
    (b"id: x\ntitle: t\xff\n", "2:9", "not UTF-8 text (invalid start byte at byte 14)"),
    (b"id: x\r\ntitle: t\r\n  bad: \xc3(\n", "3:8", "not UTF-8 text (invalid continuation byte at byte 24)"),
    ("id: x\n".encode("utf-16"), "1:1", "it looks like UTF-16: save it as UTF-8"),
    (b"id: x\ntitle: t\x00x\n", "2:9", "the character U+0000 (a control character) is not allowed in a YAML file"),
    ("id: x\ntitle: \u00e9\u00e9\x01\n".encode(), "2:10", "the character U+0001"),
    ("id: x\ntitle: \ufffe\n".encode(), "2:8", "the character U+FFFE"),
])
def test_a_whole_file_mistake_has_a_line_and_column(tmp_path: Path, data: bytes, where: str, what: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(data)
    with pytest.raises(CaseFileError) as info:
        load_cases([path])
    (error,) = info.value.errors
    assert f"{error.line}:{error.column}" == where and what in error.message, error


# --- sizes that would take the time --------------------------------------------------------------


@pytest.mark.parametrize(("text", "what"), [
    (BASE + "  - wait: 1ms\n" * 1000, "more than 1,000 steps: too many for a case"),
    ("a: [" + "1, " * 60_000 + "]\n", "more than 50,000 values"),
    ("".join(f"k{i}: {i}\n" for i in range(20_000)), "more mistakes, not shown"),
])
def test_a_big_file_is_refused_by_a_size_limit_with_a_line(tmp_path: Path, text: str, what: str) -> None:
    """How long the refusal takes is a figure of ``tcpconform bench --fuzz``, not asserted here."""
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(CaseFileError) as info:
        load_cases([path])
    assert any(what in e.message and e.line is not None for e in info.value.errors), info.value.errors[-3:]


def test_a_matrix_table_of_too_many_steps(tmp_path: Path) -> None:
    table = (Path(__file__).resolve().parents[2] / "testcases" / "matrix" / "matrix.yaml").read_text()
    events = "".join(f"    E{i}: {{send: \"R 1:1(0)\"}}\n" for i in range(3000))
    cells = "".join(f"      E{i}: {{omit: x}}\n" for i in range(3000))
    head, tail = table.split("  cells:\n")
    grown = head.replace("  events:\n", "  events:\n" + events) + "  cells:\n" + tail.replace(
        "    ESTABLISHED:\n", "    ESTABLISHED:\n" + cells)
    path = tmp_path / "m.yaml"
    path.write_text(grown)
    with pytest.raises(CaseFileError, match=r"m.yaml:\d+:\d+: the table's cells make more than 20,000 steps"):
        load_cases([path])
