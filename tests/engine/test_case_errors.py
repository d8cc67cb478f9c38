"""A case that cannot go on says why in its own words; only a bug of ours is an 'internal error'."""

from __future__ import annotations

from pathlib import Path

from tcpconform.cases.load import load_case
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.run import execute
from tcpconform.targets.reference import open_reference


def test_a_case_mistake_is_an_error_with_its_reason_not_an_internal_error(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(
        "id: x\ntitle: x\nrequirements: [{id: r, ref: RFC 9293 3.10.7.4, level: MUST}]\nno_fault: test\n"
        "steps:\n  - app: listen\n  - send: \". 1:1(0) win 5000\"\n")
    ref = open_reference()
    case = execute([load_case(path)], ref.link, ref.target, get_profile("reference")).cases[0]
    assert case.verdict == "error"
    assert "internal error" not in case.reason
    assert case.reason == f"{path}:7: an ACK to send needs an ack number: nothing was received from the target yet"
