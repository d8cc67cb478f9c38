"""ISN statistics: the figures, the case against the reference responder and its ISN faults,
and the scheduler running such a case alone."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.document import CaseFileError
from tcpconform.cases.load import load_case, load_cases
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.isn import IsnSample, isn_figures
from tcpconform.engine.run import execute
from tcpconform.targets.reference import open_reference

CASE = bundled_cases() / "isn" / "isn-unpredictable.yaml"


def _samples(isn_at) -> list[IsnSample]:  # type: ignore[no-untyped-def]
    return [IsnSample(i * 0.02, 40000 + i, isn_at(i, i * 0.02) & 0xFFFFFFFF) for i in range(40)]


def test_constant_isns_are_one_distinct_value() -> None:
    f = isn_figures(_samples(lambda i, t: 100))
    assert (f["distinct"], f["gcd"], f["sp"], f["predict_bits"]) == (1, 0, 0, 0.0)


def test_a_fixed_step_counter_shows_its_step_as_gcd_and_is_predictable() -> None:
    f = isn_figures(_samples(lambda i, t: 1000 + 64000 * i))
    assert f["gcd"] == 64000 and f["sp"] == 0
    assert f["predict_bits"] == 0.0


def test_a_bare_clock_is_predictable_even_across_the_wrap() -> None:
    f = isn_figures(_samples(lambda i, t: 0xFFFFF000 + round(t * 250_000)))
    assert f["predict_bits"] < 2 and f["rate_per_s"] == 250_000


def test_a_keyed_hash_leaves_about_31_bits() -> None:
    rng = random.Random(7)
    f = isn_figures(_samples(lambda i, t: round(t * 250_000) + rng.getrandbits(32)))
    assert f["predict_bits"] > 28 and f["sp"] > 200 and f["gcd"] < 10


def _run(faults: tuple[str, ...] = (), jobs: int = 1, extra: bool = False):  # type: ignore[no-untyped-def]
    cases = load_cases([bundled_cases()]) if extra else [load_case(CASE)]
    ref = open_reference(faults)
    return execute(cases, ref.link, ref.target, get_profile("reference"), jobs=jobs)


def test_the_reference_responder_passes_with_its_figures_recorded() -> None:
    case = _run().cases[0]
    assert case.verdict == "pass", case.reason
    assert case.figures["samples"] == 40 and case.figures["distinct"] == 40
    assert case.figures["predict_bits"] > 24
    assert "bits to guess" in case.steps[-1].message


@pytest.mark.parametrize(("fault", "level", "step"), [
    ("fixed-isn", "MUST", "isn_check clock-driven"),
    ("linear-isn", "SHOULD", "isn_check unpredictable"),
    ("bad-syn-ack", "MUST", "isn_sample 40"),
])
def test_each_isn_fault_fails_at_its_requirement(fault: str, level: str, step: str) -> None:
    case = _run((fault,)).cases[0]
    assert case.verdict == "fail"
    assert case.failed_level == level
    assert case.failed_step is not None and case.failed_step.text.startswith(step)


def test_a_sampling_case_runs_alone_in_a_parallel_run() -> None:
    result = _run(jobs=8, extra=True)
    isn = next(c for c in result.cases if c.id == "isn-unpredictable")
    assert isn.verdict == "pass", isn.reason
    start, end = isn.started, isn.started + isn.duration
    others = [c for c in result.cases if c.id != isn.id]
    rounding = 1e-6  # a case's duration is kept to the microsecond
    assert all(c.started >= end - rounding or c.started + c.duration <= start + rounding for c in others)
    assert [c.id for c in result.cases] == [c.id for c in load_cases([bundled_cases()])]  # given order kept


def test_isn_check_needs_a_sample_first(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(
        "id: x\ntitle: x\nrequirements: [{id: r, ref: RFC 9293 3.4.1, level: MUST}]\nno_fault: test\n"
        "steps:\n  - app: listen\n  - isn_check: clock-driven\n")
    with pytest.raises(CaseFileError) as err:
        load_case(path)
    assert f"{path}:7:16: steps[1].isn_check: isn_check judges a sample" in str(err.value)


def test_the_figures_reach_every_report() -> None:
    from tcpconform.gate import evaluate
    from tcpconform.report.console import case_line
    from tcpconform.report.html import render_html
    from tcpconform.report.junit import build_junit

    result = _run()
    case = result.cases[0]
    assert "figures: samples 40, distinct 40" in case_line(case)
    html = render_html(result, evaluate(result, None))
    assert "<h3>Figures</h3>" in html and "<th>predict_bits</th>" in html
    props = {p.get("name"): p.get("value") for p in build_junit(result, evaluate(result, None)).iter("property")}
    assert props["figure.samples"] == "40" and float(props["figure.predict_bits"]) > 24
    assert result.to_dict()["cases"][0]["figures"]["distinct"] == 40
