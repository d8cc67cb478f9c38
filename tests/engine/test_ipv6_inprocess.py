"""The catalogue over IPv6 in-process: every case that makes sense over IPv6 passes, the others skip."""

from __future__ import annotations

import pytest

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_cases
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.run import execute
from tcpconform.targets.reference import open_reference


@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4", "ipv6"])
def test_the_catalogue_passes_over_both_families(ipv6: bool) -> None:
    cases = load_cases([bundled_cases()])
    ref = open_reference(ipv6=ipv6)
    result = execute(cases, ref.link, ref.target, get_profile("reference"))
    family = "ipv6" if ipv6 else "ipv4"
    assert result.meta.family == family
    skipped = {c.id: c.reason for c in result.cases if c.verdict == "skip"}
    assert {c.id for c in result.cases if c.verdict not in ("pass", "skip")} == set()
    assert skipped == {c.id: f"the case is for {'IPv4' if ipv6 else 'IPv6'} only (family: {c.family}); "
                             f"this run is over {'IPv6' if ipv6 else 'IPv4'}"
                       for c in cases if c.family not in (None, family)}
    assert skipped  # each family has a case of its own
    first = result.cases[0].connection
    assert first["tester"].startswith("2001:db8::1:" if ipv6 else "192.0.2.1:")


@pytest.mark.parametrize(("case_id", "fault"), [("options-mss-default-1220", "ipv6-mss-from-link"),
                                                ("options-mss-default-1220", "ignore-mss")])
def test_the_ipv6_default_mss_case_fails_under_its_faults(case_id: str, fault: str) -> None:
    cases = [c for c in load_cases([bundled_cases()]) if c.id == case_id]
    ref = open_reference((fault,), ipv6=True)
    (case,) = execute(cases, ref.link, ref.target, get_profile("reference")).cases
    assert case.verdict == "fail"


def test_selftest_leaves_out_what_cannot_show_over_a_family() -> None:
    from tcpconform.selftest import run_selftest

    cases = [c for c in load_cases([bundled_cases()]) if c.id.startswith("options-mss-default")]
    four = run_selftest(cases, ["ignore-mss", "ipv6-mss-from-link"])
    six = run_selftest(cases, ["ignore-mss", "ipv6-mss-from-link"], ipv6=True)
    assert (four.cases, four.faults) == (["options-mss-default-536"], ["ignore-mss"])
    assert (six.cases, six.faults) == (["options-mss-default-1220"], ["ignore-mss", "ipv6-mss-from-link"])
    assert four.ok and six.ok
