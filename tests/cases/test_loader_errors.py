"""Mistakes in case files: each is reported as ``file:line:column: field: reason``, all at once.

Every test starts from the valid ``BASE`` case and breaks one thing, so the expected line is known.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support.cases import BASE, LINE, errors, replace

from tcpconform.cases.document import CaseFileError, LoadError
from tcpconform.cases.load import load_cases

F = "cases/x.yaml"
EXPECT = '  - expect: "S. 100:100(0) ack 1 win 65535"'
Write = Callable[..., str]


def only(write_case: Write, text: str) -> str:
    """The single message loading ``text`` reports."""
    found = errors(write_case(text))
    assert len(found) == 1, found
    return found[0]


# --- structure (the schema) ---------------------------------------------------------------------


def test_typo_in_a_top_level_key(write_case: Write) -> None:
    msg = only(write_case, replace(BASE, "tester: {", "testr: {"))
    assert msg == f"{F}:{LINE['tester']}:1: testr: unknown field 'testr' (did you mean 'tester'?)"


def test_typo_in_a_step_modifier(write_case: Write) -> None:
    msg = only(write_case, replace(BASE, "    within: 500ms", "    withn: 500ms"))
    assert msg == f"{F}:{LINE['within']}:5: steps[2].withn: unknown field 'withn' (did you mean 'within'?)"


def test_typo_in_a_step_kind(write_case: Write) -> None:
    msg = only(write_case, replace(BASE, "  - wait: 100ms", "  - wiat: 100ms"))
    assert msg == f"{F}:{LINE['wait']}:5: steps[5].wiat: unknown field 'wiat' (did you mean 'wait'?)"


def test_typo_in_a_segment_field(write_case: Write) -> None:
    text = replace(BASE, '  - send: "S 0:0(0) win 5000 <mss 512>"', "  - send: {flags: S, widnow: 5000}")
    msg = only(write_case, text)
    assert msg == (f"{F}:{LINE['send']}:22: steps[1].send.widnow: unknown field 'widnow' "
                   "(did you mean 'window'?)")


def test_wrong_types(write_case: Write) -> None:
    text = replace(BASE, "tester: {window: 5000,", "tester: {window: big,")
    text = replace(text, "title: Sample case", "title: [Sample case]")
    assert errors(write_case(text)) == [
        f"{F}:{LINE['title']}:8: title: expected a string (got a list)",
        f"{F}:{LINE['tester']}:18: tester.window: expected an integer (got 'big')",
    ]


def test_missing_required_fields(write_case: Write) -> None:
    text = replace(BASE, "title: Sample case\n", "")
    text = replace(text, '  - send: "S 0:0(0) win 5000 <mss 512>"', "  - send: {seq: 0}")
    assert errors(write_case(text)) == [
        f"{F}:1:1: missing required field 'title'",
        f"{F}:{LINE['send'] - 1}:11: steps[1].send: missing required field 'flags'",
    ]


def test_a_step_with_two_kinds_or_none(write_case: Write) -> None:
    text = replace(BASE, "  - wait: 100ms", "  - wait: 100ms\n    silence: 1s\n  - {}")
    assert errors(write_case(text)) == [
        f"{F}:{LINE['wait'] + 1}:5: steps[5].silence: a step has exactly one of send, expect, silence, app, "
        "state, wait, isn_sample, isn_check, reconnect, negotiated, icmp, half_open, flight, challenge_burst, "
        "fill_window, slow_read, reopen (this one has wait and silence)",
        f"{F}:{LINE['wait'] + 2}:5: steps[6]: expected one of send, expect, silence, app, state, wait, "
        "isn_sample, isn_check, reconnect, negotiated, icmp, half_open, flight, challenge_burst, fill_window, "
        "slow_read, reopen (got an empty mapping)",
    ]


def test_state_name_typo(write_case: Write) -> None:
    msg = only(write_case, replace(BASE, "state: SYN_RCVD", "state: SYN_RECV"))
    assert msg.startswith(f"{F}:{LINE['state']}:12: steps[4].state: expected one of CLOSED, LISTEN, ")
    assert msg.endswith("(got 'SYN_RECV') (did you mean 'SYN_RCVD'?)")


def test_modifiers_only_where_they_mean_something(write_case: Write) -> None:
    text = replace(BASE, '  - send: "S 0:0(0) win 5000 <mss 512>"',
                   '  - send: "S 0:0(0) win 5000 <mss 512>"\n    isn: 0')
    text = replace(text, "  - silence: 200ms", "  - silence: 200ms\n    within: 1s")
    assert errors(write_case(text)) == [
        f"{F}:{LINE['send'] + 1}:5: steps[1].isn: 'isn' is not allowed on a send step (only on expect)",
        f"{F}:{LINE['silence'] + 2}:5: steps[3].within: 'within' is not allowed on a silence step "
        "(only on expect or isn_sample or half_open or flight or fill_window or slow_read or reopen)",
    ]


def test_duplicate_key(write_case: Write) -> None:
    msg = only(write_case, replace(BASE, "title: Sample case\n", "title: Sample case\ntitle: Again\n"))
    assert msg == f"{F}:3:1: title: 'title' is given twice (first at line 2)"


# --- meaning ------------------------------------------------------------------------------------


def test_bad_flag_letter_points_into_the_notation(write_case: Write) -> None:
    msg = only(write_case, replace(BASE, '"S 0:0(0) win 5000', '"SX 0:0(0) win 5000'))
    assert msg.startswith(f"{F}:{LINE['send']}:13: steps[1].send: unknown flag 'X' in 'SX'")


def test_end_must_be_seq_plus_len(write_case: Write) -> None:
    msg = only(write_case, replace(BASE, '"S. 100:100(0)', '"S. 100:101(0)'))
    assert msg == f"{F}:{LINE['expect']}:21: steps[2].expect: END must be SEQ + LEN: 100 + 0 = 100, not 101"


def test_notation_column_in_a_plain_scalar(write_case: Write) -> None:
    msg = only(write_case, replace(BASE, '  - expect: "S. 100:100(0) ack 1 win 65535"',
                                   "  - expect: S. 100:100(0) ack 1 wn 65535"))
    assert msg.startswith(f"{F}:{LINE['expect']}:33: steps[2].expect: unexpected 'wn' (did you mean 'win'?)")


def test_wildcard_in_a_send(write_case: Write) -> None:
    msg = only(write_case, replace(BASE, '"S 0:0(0) win 5000', '"S 0:0(0) win *'))
    assert msg == (f"{F}:{LINE['send']}:25: steps[1].send: win: a sent segment needs definite values: "
                   "an integer or '$name[+n]' (got '*')")


def test_wildcard_in_a_structured_send(write_case: Write) -> None:
    text = replace(BASE, '  - send: "S 0:0(0) win 5000 <mss 512>"', '  - send: {flags: S, ack: "1..3"}')
    msg = only(write_case, text)
    assert msg.startswith(f"{F}:{LINE['send']}:27: steps[1].send.ack: a sent segment needs definite values")


def test_bad_value_in_a_structured_field(write_case: Write) -> None:
    text = replace(BASE, EXPECT, "  - expect: {flags: SA, window: abc}")
    msg = only(write_case, text)
    assert msg == (f"{F}:{LINE['expect']}:33: steps[2].expect.window: expected an integer, '*', 'lo..hi', "
                   "'$name', '$name+n' or '?name' (got 'abc')")


def test_unknown_requirement(write_case: Write) -> None:
    msg = only(write_case, replace(BASE, "rfc: syn-ack", "rfc: syn-akc"))
    assert msg == (f"{F}:{LINE['rfc']}:10: steps[2].rfc: no requirement 'syn-akc' in this case "
                   "(did you mean 'syn-ack'?) (its requirements: syn-ack, delack)")


def test_duplicate_requirement_id(write_case: Write) -> None:
    msg = only(write_case, replace(BASE, "  - id: delack", "  - id: syn-ack"))
    assert msg == f"{F}:7:9: requirements[1].id: duplicate requirement id 'syn-ack' (first at line 4)"


def test_unknown_fault(write_case: Write) -> None:
    msg = only(write_case, replace(BASE, "faults: [bad-syn-ack]", "faults: [bad-synack]"))
    assert msg == (f"{F}:{LINE['faults']}:10: faults[0]: unknown fault 'bad-synack' "
                   "(did you mean 'bad-syn-ack'?)")
    far = only(write_case, replace(BASE, "faults: [bad-syn-ack]", "faults: [zzz]"))
    from tcpconform.responder.faults import FAULTS

    assert far.endswith(f"(known: {', '.join(sorted(FAULTS))})")  # every fault, sorted


def test_faults_xor_no_fault(write_case: Write) -> None:
    both = only(write_case, BASE + "no_fault: because\n")
    assert both == f"{F}:23:1: no_fault: give either faults or no_fault, not both"
    neither = only(write_case, replace(BASE, "faults: [bad-syn-ack]\n", ""))
    assert neither.startswith(f"{F}:1:1: name the faults that must make this case fail")
    empty = only(write_case, replace(BASE, "faults: [bad-syn-ack]", "faults: []"))
    assert empty.startswith(f"{F}:{LINE['faults']}:1: faults: name the faults")


@pytest.mark.parametrize(("old", "new", "where", "reason"), [
    ("within: 500ms", "within: 5 minutes", f"{LINE['within']}:13: steps[2].within",
     "expected a duration such as 500ms, 1.5s, 250us or 2 (got '5 minutes')"),
    ("silence: 200ms", "silence: 0", f"{LINE['silence']}:14: steps[3].silence",
     "a duration must be greater than 0 and at most one day, 86400 s (got 0)"),
    ("wait: 100ms", "wait: [1]", f"{LINE['wait']}:11: steps[5].wait",
     "expected a number or a string (got a list)"),
])
def test_bad_durations(write_case: Write, old: str, new: str, where: str, reason: str) -> None:
    assert only(write_case, replace(BASE, old, new)) == f"{F}:{where}: {reason}"


def test_isn_needs_a_syn(write_case: Write) -> None:
    msg = only(write_case, replace(BASE, '"S. 100:100(0) ack 1 win 65535"', '". 100:100(0) ack 1"'))
    assert msg.startswith(f"{F}:{LINE['isn']}:5: steps[2].isn: isn checks the sequence number of a SYN")


def test_app_mistakes(write_case: Write) -> None:
    text = BASE + "  - app: raed 5\n  - app: write\n  - app: {read: 0}\n"
    assert errors(write_case(text)) == [
        f"{F}:23:10: steps[6].app: expected listen, unlisten, connect, close, shutdown, 'read N', 'write N', read-eof, "
        "read-reset, 'setsockopt NAME VALUE' or 'getsockopt NAME >= VALUE' "
            "(got 'raed 5') "
        "(did you mean 'read'?)",
        f"{F}:24:10: steps[7].app: write needs a byte count from 1 to 16,777,216: 'write N' (got 'write')",
        f"{F}:25:17: steps[8].app.read: expected at least 1 (got 0)",
    ]


def test_every_mistake_of_a_file_at_once(write_case: Write) -> None:
    text = replace(BASE, "id: sample", "id: Sample")
    text = replace(text, "level: SHOULD", "level: SHOUD")
    text = replace(text, "state: SYN_RCVD", "state: syn_rcvd")
    text = replace(text, '"S 0:0(0) win 5000', '"S 0:1(0) win 5000')
    found = errors(write_case(text))
    assert [m.split(": ")[0] for m in found] == [
        f"{F}:1:5", f"{F}:10:12", f"{F}:{LINE['send']}:16", f"{F}:{LINE['state']}:12"]
    assert "SHOULD" in found[1] and "END must be SEQ + LEN" in found[2] and "SYN_RCVD" in found[3]


@pytest.mark.parametrize("extra", [
    "steps: [null]", "requirements: [5]", "tester: 5", "numbering: {}", "tolerate: nothing", "1: x",
    "? [a]\n: b", "x: !custom y", "<<: {title: t}", "id: 5",
    "steps:\n  - expect: {flags: S, options: [[], {a: 1}, [MSS], [Timestamp, 5], [SAck, [1]], [300, '00']]}",
    "steps:\n  - expect: {flags: '', seq: true, payload: {hex: 5}, chksum: bda}",
    "steps:\n  - app: {read: 1, write: 2}\n  - app: ''\n  - wait: .nan\n  - wait: .inf",
    "steps:\n  - expect: S\n    isn: [1]\n  - state: 5\n  - silence: 1\n    rfc: 5",
    "steps:\n  - expect: S. <TS val 1 ecr>\n  - expect: S. <opt-999>\n  - expect: S. 99999999999:*(0)",
])
def test_nonsense_is_reported_never_raised(write_case: Write, extra: str) -> None:
    """Whatever the file holds, loading it reports mistakes with a line; nothing else escapes."""
    found = errors(write_case(BASE + extra + "\n"))
    assert found
    assert all(m.startswith(f"{F}:") and m.split(":")[1].isdigit() for m in found)
    assert len(found) == len(set(found))


# --- the file itself ----------------------------------------------------------------------------


def test_yaml_syntax_error(write_case: Write) -> None:
    msg = only(write_case, replace(BASE, "title: Sample case", "title: [Sample case"))
    assert msg.startswith(f"{F}:3:") and "YAML syntax error" in msg


def test_unquoted_star_is_explained(write_case: Write) -> None:
    msg = only(write_case, replace(BASE, EXPECT, "  - expect: * <...>"))
    assert msg.startswith(f"{F}:{LINE['expect']}:14: YAML syntax error")
    assert "quote it" in msg


@pytest.mark.parametrize(("content", "reason"), [
    ("", f"{F}:1: the file is empty"),
    ("# only a comment\n", f"{F}:1: the file is empty"),
    ("- id: a\n", f"{F}:1:1: a case file is a mapping"),
    ("just words\n", f"{F}:1:1: a case file is a mapping"),
    ("a: 1\n---\nb: 2\n", f"{F}:2:1: YAML syntax error"),
])
def test_not_a_case_file(write_case: Write, content: str, reason: str) -> None:
    assert only(write_case, content).startswith(reason)


def test_unreadable_files(write_case: Write) -> None:
    path = write_case("")
    Path(path).write_bytes(b"id: \xff\xfe\n")
    assert errors(path) == [f"{F}:1:5: not UTF-8 text (invalid start byte at byte 4)"]
    with pytest.raises(CaseFileError) as info:
        load_cases(["cases/missing.yaml", "cases"])
    assert str(info.value.errors[0]) == "cases/missing.yaml: no such file or folder"


def test_duplicate_ids_across_files_name_both(write_case: Write) -> None:
    write_case(BASE, "a.yaml")
    write_case(BASE, "b.yaml")
    with pytest.raises(CaseFileError) as info:
        load_cases(["cases"])
    assert str(info.value) == "cases/b.yaml:1: id: duplicate case id 'sample': also used by cases/a.yaml:1"


def test_errors_of_every_file_are_collected(write_case: Write) -> None:
    write_case(replace(BASE, "state: SYN_RCVD", "state: SYN_RECV"), "a.yaml")
    write_case(replace(BASE, "id: sample", "id: other\nbogus: 1"), "b.yaml")
    write_case("title: [\n", "c.yaml")
    with pytest.raises(CaseFileError) as info:
        load_cases(["cases"])
    assert [e.file for e in info.value.errors] == ["cases/a.yaml", "cases/b.yaml", "cases/c.yaml"]
    assert len(str(info.value).splitlines()) == 3


def test_load_error_text() -> None:
    error = LoadError("f.yaml", 12, 5, "steps[3].expect.window", "why")
    assert str(error) == "f.yaml:12:5: steps[3].expect.window: why"
    assert str(LoadError("f.yaml", 3, None, "", "why")) == "f.yaml:3: why"
    assert str(LoadError("f.yaml", None, None, "", "why")) == "f.yaml: why"


def test_family_must_be_ipv4_or_ipv6(write_case: Write) -> None:
    msg = only(write_case, replace(BASE, "faults: [bad-syn-ack]\n", "faults: [bad-syn-ack]\nfamily: IPv6\n"))
    assert msg.startswith(f"{F}:{LINE['faults'] + 1}:9: family: expected one of ipv4, ipv6 (got 'IPv6')"), msg
