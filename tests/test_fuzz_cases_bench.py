"""The case-file fuzz campaign of ``tcpconform bench --fuzz``: the loader keeps its promise on a few
hundred mutants, and the campaign does see a broken promise (a traceback, a hang, a dead process, a
rejection without a line) when there is one."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tcpconform.bench import fuzz_cases
from tcpconform.bench.fuzz_cases import campaign, case_file_figures, figures
from tcpconform.bench.mutations import MUTATIONS, mutant, sources
from tcpconform.cases.document import CaseFileError, LoadError


def test_two_hundred_mutants_load_as_promised() -> None:
    lines = list(case_file_figures(200, 3))
    assert lines[0].startswith("case files: 200 mutants") and "all as promised" in lines[0], lines
    assert "tracebacks (any other exception): 0" in lines[4]
    tally = campaign(200, 3)
    assert (tally.tried, tally.tracebacks, tally.hangs, tally.crashes, tally.lineless) == (200, 0, 0, 0, 0)
    assert tally.accepted and tally.rejected and tally.kept, list(figures(tally))


def test_time_and_memory_are_shown_beside_the_promise_not_in_it() -> None:
    """A slow file on a loaded machine is a figure, not a broken promise."""
    from tcpconform.bench.fuzz_cases import Tally

    tally = Tally(1, 1, accepted=1, slow=1, slowest=3.0)
    head = next(figures(tally))
    assert tally.kept and not tally.ok
    assert "all as promised; OVER the time or memory budget" in head


def test_a_mutant_is_a_function_of_seed_and_index() -> None:
    assert mutant(5, 17) == mutant(5, 17)
    assert len({mutant(5, i)[2] for i in range(50)}) > 45
    assert any(name.startswith("matrix") for name, _ in sources())
    used = {m for i in range(2000) for m in mutant(9, i)[1].split("+")}
    assert used == set(MUTATIONS)


def test_an_unexpected_exception_is_counted_as_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(paths: list[Path]) -> None:
        raise RuntimeError("the loader broke")

    monkeypatch.setattr(fuzz_cases, "load_cases", broken)
    tally = campaign(20, 1)
    assert tally.tracebacks == 20 and not tally.kept
    lines = list(figures(tally))
    assert "PROMISE BROKEN" in lines[0]
    assert any("traceback: #0 " in line and "RuntimeError: the loader broke" in line for line in lines), lines


def test_an_accepted_case_no_run_can_honour_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loader's checks, bypassed: the audit still sees a segment no frame carries."""
    from dataclasses import replace

    from tcpconform.cases.load import load_cases
    from tcpconform.cases.model import SendStep

    def lenient(paths: list[Path]) -> list[object]:
        case = load_cases(["testcases/seed/01-handshake.yaml"])[0]
        send = next(s for s in case.steps if isinstance(s, SendStep))
        huge = replace(send, segment=replace(send.segment, payload=bytes(65_500)))
        return [replace(case, steps=(huge,))]

    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    monkeypatch.setattr(fuzz_cases, "load_cases", lenient)
    tally = campaign(3, 1)
    assert tally.impossible == 3 and not tally.kept
    assert "cannot be framed" in tally.described["impossible"][0]


def test_a_rejection_without_a_line_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    def lineless(paths: list[Path]) -> None:
        raise CaseFileError([LoadError(str(paths[0]), None, None, "", "somewhere")])

    monkeypatch.setattr(fuzz_cases, "load_cases", lineless)
    tally = campaign(10, 1)
    assert tally.rejected == 10 and tally.lineless >= 9 and not tally.kept  # an empty mutant has no line to give


def test_a_hang_is_interrupted_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    def hangs(paths: list[Path]) -> None:
        time.sleep(60)

    monkeypatch.setattr(fuzz_cases, "load_cases", hangs)
    t0 = time.perf_counter()
    tally = campaign(3, 1, limit=0.2)
    assert tally.hangs == 3 and time.perf_counter() - t0 < 5


def test_a_hang_out_of_the_alarms_reach_and_a_dead_process_are_counted(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    calls = tmp_path / "calls"  # counted across the campaign's child processes

    def stuck_or_dead(paths: list[Path]) -> list[object]:
        with calls.open("a") as fh:
            fh.write(".")
        count = len(calls.read_text())
        if count == 1:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            time.sleep(60)
        if count == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return []

    monkeypatch.setattr(fuzz_cases, "load_cases", stuck_or_dead)
    t0 = time.perf_counter()
    tally = campaign(6, 1, limit=0.2)
    assert time.perf_counter() - t0 < 10
    assert (tally.tried, tally.accepted, tally.hangs, tally.crashes) == (6, 4, 1, 1), list(figures(tally))
    assert tally.described["hang"] == [f"#0 {mutant(1, 0)[1]} of {mutant(1, 0)[0]}: no answer within 1.4 s: killed"]
    assert "the loading process died (signal 9)" in tally.described["crash"][0]
