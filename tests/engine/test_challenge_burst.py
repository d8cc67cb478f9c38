"""The ``challenge_burst`` step in process: a throttled target passes with its count as a figure,
one answering every trigger fails, one answering none is skipped (nothing shows a throttle), and an ``at_most`` that
could show no throttle is refused at its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpconform.cases.document import CaseFileError
from tcpconform.cases.load import load_cases
from tcpconform.cases.profiles import PROFILES
from tcpconform.engine.run import execute
from tcpconform.targets.reference import open_reference

CASE = "testcases/reset/challenge-ack-throttle.yaml"


def _run(faults: tuple[str, ...] = (), *, ipv6: bool = False) -> tuple[str, str, dict[str, object]]:
    ref = open_reference(faults, ipv6=ipv6)
    case = execute(load_cases([CASE]), ref.link, ref.target, PROFILES["reference"]).cases[0]
    return case.verdict, case.reason or "", case.figures


@pytest.mark.parametrize("ipv6", [False, True])
def test_a_throttled_target_passes_with_its_count(ipv6: bool) -> None:
    verdict, _, figures = _run(ipv6=ipv6)
    assert verdict == "pass"
    assert figures["challenge_triggers"] == 100 and figures["challenge_acks"] == 10


def test_a_challenge_ack_to_every_trigger_fails() -> None:
    verdict, reason, _ = _run(("no-challenge-ack-throttle",))
    assert verdict == "fail" and "100 challenge ACKs to 100 in-window RSTs" in reason and "not throttled" in reason


def test_no_challenge_ack_at_all_shows_no_throttle_and_is_skipped() -> None:
    verdict, reason, _ = _run(("rst-any-seq",))  # the first RST resets it silently: the rest meet no connection
    assert verdict == "skip" and "whether it throttles them is not observed" in reason


def test_at_most_must_be_below_the_burst(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(Path(CASE).read_text().replace("at_most: 50", "at_most: 100"))
    with pytest.raises(CaseFileError, match=r"bad.yaml:\d+:\d+: steps\[4\].at_most: at_most 100 must be below"):
        load_cases([tmp_path])


def test_a_reset_before_any_challenge_is_the_other_cases_deviation_and_is_skipped() -> None:
    """A stack that resets on an in-window SYN (RFC 793) fails reset-syn-in-established; here it shows
    no throttle, so it is skipped, not failed a second time for the same segment."""
    ref = open_reference(("syn-resets",))
    case = execute(load_cases(["testcases/reset/challenge-ack-throttle-syn.yaml"]), ref.link, ref.target,
                   PROFILES["reference"]).cases[0]
    assert case.verdict == "skip" and "before any challenge ACK" in (case.reason or ""), case.reason
