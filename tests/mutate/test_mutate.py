"""``tcpconform mutate`` against the reference responder: each crash- or wedge-type fault is found,
reduced and written as a case file that passes on the clean reference, fails under that fault and
passes under the others; the clean reference gives nothing; budgets, resuming and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcpconform.cases.load import load_file
from tcpconform.cli import main
from tcpconform.mutate.command import parse_budget
from tcpconform.mutate.fields import MUTATIONS, by_name, pair
from tcpconform.mutate.reduce import ddmin
from tcpconform.run import RunRequest, TargetChoice, run

CRASHES = ("wedge-on-bad-option", "crash-on-malformed-option", "urgent-pointer-crash", "slip-listen-on-syn-fin")
SEEDS = ("seed-handshake", "seed-cumulative-ack")
"""Seed cases enough to reach every fault above (LISTEN, SYN-RECEIVED and ESTABLISHED with data)."""


def mutate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["mutate", *args], catch_exceptions=False)
    return result.exit_code, result.output


def verdict(case_file: str, faults: tuple[str, ...]) -> str:
    outcome = run(RunRequest(cases=load_file(case_file), choice=TargetChoice(faults=faults)))
    return outcome.result.cases[0].verdict


@pytest.mark.parametrize("fault", CRASHES)
def test_each_crash_fault_is_found_reduced_and_reproduced_by_a_case_file_that_fails_it_alone(
        fault: str, tmp_path: Path) -> None:
    code, out = mutate(*SEEDS, "--fault", fault, "--pairs", "0", "--out", str(tmp_path))
    assert code == 1, out
    found = json.loads((tmp_path / "mutate.json").read_text())
    first = found["crashes"][0]
    assert first["reproduces"], first
    case = first["case_file"]
    assert verdict(case, ()) == "pass"
    assert verdict(case, (fault,)) == "fail"
    for other in CRASHES:
        if other != fault:
            assert verdict(case, (other,)) == "pass", other
    assert (tmp_path / "junit.xml").is_file() and (tmp_path / "results.json").is_file()
    assert f"CRASH {first['mutant']}" in out


def test_the_clean_reference_gives_nothing(tmp_path: Path) -> None:
    code, out = mutate(*SEEDS, "--out", str(tmp_path))
    assert code == 0, out
    found = json.loads((tmp_path / "mutate.json").read_text())
    assert found["tried"] > 100 and found["crashes"] == [] and found["differences"] == []


def test_a_campaign_stopped_by_max_goes_on_with_resume_and_repeats_nothing(tmp_path: Path) -> None:
    assert mutate("seed-handshake", "--max", "10", "--out", str(tmp_path))[0] == 0
    assert mutate("seed-handshake", "--max", "25", "--resume", "--out", str(tmp_path))[0] == 0
    tried = json.loads((tmp_path / "mutate-state.json").read_text())["tried"]
    assert len(tried) == 25 == len(set(tried))
    code, out = mutate("seed-handshake", "--resume", "--seed", "2", "--out", str(tmp_path))
    assert code == 2 and "with seed 1, not" in out


@pytest.mark.parametrize("args, message", [
    (["--budget", "soon"], "--budget 'soon': a duration such as 90s, 10m or 1h"),
    (["--resume"], "--resume: cannot read"),
    (["no-such-case"], "no seed case named no-such-case"),
    (["--fault", "no-such-fault"], "unknown fault 'no-such-fault'"),
])
def test_bad_input_is_a_usage_error_never_a_traceback(args: list[str], message: str, tmp_path: Path) -> None:
    code, out = mutate(*args, "--out", str(tmp_path / "none"))
    assert code == 2 and message in out, out


def test_budgets_read_as_durations() -> None:
    assert [parse_budget(t) for t in ("90", "90s", "10m", "1.5h")] == [90, 90, 600, 5400]


def test_ddmin_finds_a_one_minimal_subset() -> None:
    assert ddmin(list(range(10)), lambda s: {2, 7} <= set(s)) == [2, 7]
    assert ddmin(list(range(5)), lambda s: True) == []


def test_every_mutation_has_a_unique_name_and_pairs_change_two_fields() -> None:
    names = [m.name for m in MUTATIONS]
    assert len(names) == len(set(names))
    assert pair(by_name("seq+1"), by_name("seq-1")) is None
    both = pair(by_name("chksum-bad"), by_name("win-0"))
    assert both is not None and both.field == "chksum+window"


def test_a_seed_whose_own_segment_crashes_the_target_gives_no_mutant_crash(tmp_path: Path) -> None:
    # urgent-spanning-segments sends an urgent pointer past its data itself: under urgent-pointer-crash
    # every mutant of that send crashes the target, which is the case's finding, not the mutants'.
    code, out = mutate("urgent-spanning-segments", "--fault", "urgent-pointer-crash", "--pairs", "0",
                       "--out", str(tmp_path))
    found = json.loads((tmp_path / "mutate.json").read_text())
    assert [c for c in found["crashes"] if "@4:" in c["mutant"]] == [], out
    assert code in (0, 1)


def test_a_damaged_state_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "mutate-state.json").write_text(json.dumps({"target": "reference responder (in-process)", "seed": 1,
                                                            "tried": [], "crashes": [{"nonsense": 1}]}))
    code, out = mutate("seed-handshake", "--resume", "--out", str(tmp_path))
    assert code == 2 and "is not a campaign's state" in out, out


def test_an_ip_length_mutant_sends_the_lie_and_its_case_file_says_so(tmp_path: Path) -> None:
    from tcpconform.cases.bundled import bundled_cases
    from tcpconform.cases.load import load_cases
    from tcpconform.cases.model import SendStep
    from tcpconform.mutate.mutants import build, eligible
    from tcpconform.mutate.reduce import reproducer

    seed = load_cases([str(bundled_cases())], lambda i: i == "seed-cumulative-ack")[0]
    index = eligible(seed)[-1]
    for name, delta in (("iplen-short", -4), ("iplen-long", 20), ("iplen-zero", -0xFFFF)):
        mutant = build(seed, index, by_name(name))
        assert mutant is not None
        sent = mutant.case.steps[len(mutant.kept)]
        assert isinstance(sent, SendStep) and sent.ip is not None and sent.ip.length_delta == delta
        path = tmp_path / f"{name}.yaml"
        path.write_text(reproducer(mutant, f"mutate-{name}", "a test", None))
        case = load_file(str(path))[0]
        again = case.steps[len(mutant.kept)]
        assert isinstance(again, SendStep) and again.ip is not None and again.ip.length_delta == delta
        assert verdict(str(path), ()) == "pass"  # the reference discards it and answers the next connection
