"""Shared by the loader tests: a valid case file to mutate, and what loading a file reports."""

from __future__ import annotations

import pytest

from tcpconform.cases.document import CaseFileError
from tcpconform.cases.load import load_case

BASE = """\
id: sample
title: Sample case
requirements:
  - id: syn-ack
    ref: RFC 9293 3.5
    level: MUST
  - id: delack
    ref: RFC 9293 3.8.6.3
    rid: SHLD-18
    level: SHOULD
faults: [bad-syn-ack]
tester: {window: 5000, mss: 512}
steps:
  - app: listen
  - send: "S 0:0(0) win 5000 <mss 512>"
  - expect: "S. 100:100(0) ack 1 win 65535"
    isn: $isn
    within: 500ms
    rfc: syn-ack
  - silence: 200ms
  - state: SYN_RCVD
  - wait: 100ms
"""
"""A valid case; tests replace one line of it and check the line numbers reported (listed below)."""

LINE = {
    "id": 1, "title": 2, "requirements": 3, "faults": 11, "tester": 12, "steps": 13, "app": 14,
    "send": 15, "expect": 16, "isn": 17, "within": 18, "rfc": 19, "silence": 20, "state": 21, "wait": 22,
}


def replace(text: str, old: str, new: str) -> str:
    """``text`` with one exact occurrence of ``old`` replaced: a mutation that fails loudly if stale."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def errors(path: str) -> list[str]:
    """The messages loading ``path`` reports; any other exception fails the test."""
    with pytest.raises(CaseFileError) as info:
        load_case(path)
    lines = [str(e) for e in info.value.errors]
    assert str(info.value) == "\n".join(lines)
    return lines
