"""``tcpconform bench``: the figures behind the speed targets, printed, never asserted.

Timed tests are flaky and hide regressions behind a threshold; a benchmark prints numbers that a
person compares across runs.  In-process (no privileges): the seed suite, start-up, the struct
codec against Scapy's, the whole catalogue serial and with ``--jobs`` against its mandated waiting,
peak memory, and the time to write a run's reports.  On a wire (``--wire``, root, in a lab of its
own): the driver's cost per segment against the raw socket and against Scapy, SYN to SYN-ACK
against the kernel's ``connect()``, and the catalogue per lab target.  ``--equality`` instead checks that verdicts
never depend on ``--jobs`` or on the run.  ``--packetdrill PATH``: the seed exchange as a whole process against
packetdrill's, or with ``--cases`` the scripts' verdicts by both (:mod:`tcpconform.bench.packetdrill`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from tcpconform.bench.basic import run_bench as seed_bench
from tcpconform.bench.basic import seed_on_wire
from tcpconform.bench.catalogue import catalogue_figures, equality_figures, mandated_waiting, memory_figures
from tcpconform.bench.learning import learn_figures, wire_learn_figures
from tcpconform.bench.reports import report_figures
from tcpconform.bench.segments import codec_figures
from tcpconform.cases.model import TestCase
from tcpconform.errors import UsageError

if TYPE_CHECKING:
    from tcpconform.session import Session

__all__ = ["FUZZ_TARGETS", "BenchRequest", "bench_lines", "equality_bench", "fuzz_bench", "in_process_bench",
           "job_counts", "mandated_waiting", "wire_bench"]

FUZZ_TARGETS = ("responder", "decoder", "cases")
"""What ``--fuzz`` feeds: segments to the reference responder, frames to the decoder, mutated case
files to the loader."""


def _in_process() -> AbstractContextManager[Session]:
    from tcpconform.session import in_process  # the engine, only once a benchmark runs

    return in_process(())


def in_process_bench(repeat: int, cases: Sequence[TestCase], jobs: Sequence[int]) -> Iterator[str]:
    """Every figure that needs no privileges."""
    yield from seed_bench(repeat)
    yield from codec_figures(max(200, repeat * 100))
    yield from catalogue_figures("in-process reference responder", cases, _in_process, jobs, virtual=True)
    yield from memory_figures(cases, _in_process)
    yield from report_figures(cases, _in_process)
    yield from learn_figures()


def wire_bench(repeat: int, cases: Sequence[TestCase], jobs: Sequence[int], lab_name: str | None = None) -> Iterator[str]:
    """The figures on real links, in a temporary lab (root); ``lab_name`` None takes a free one."""
    from tcpconform.bench.handshake import handshake_figures
    from tcpconform.bench.segments import lab_segment_figures
    from tcpconform.lab.lab import temporary_lab
    from tcpconform.session import lab_session

    quick = [c for c in cases if not c.long]
    with temporary_lab(lab_name) as lab:
        yield f"lab {lab.name} ({lab.tester_ns}, {lab.target_ns}), made for the benchmark"
        if len(quick) < len(cases):
            yield (f"  on the wire the catalogue leaves out its {len(cases) - len(quick)} long case(s) (minutes of "
                   "mandated waiting each, as --quick does)")
        yield from lab_segment_figures(lab, max(400, repeat * 100))
        yield from handshake_figures(lab, max(50, repeat * 10))
        yield from seed_on_wire(repeat, lab.name)
        for kind in ("reference", "linux"):
            yield from catalogue_figures(f"lab {kind}", quick, partial(lab_session, kind, lab_name=lab.name), jobs)
        yield from wire_learn_figures(lab.name, max(50, repeat * 10))


def equality_bench(repeat: int, cases: Sequence[TestCase], jobs: int, lab: str | None = None,
                   lab_name: str | None = None) -> Iterator[str]:
    """Verdicts of ``repeat`` serial and ``repeat`` parallel catalogue runs, compared; in-process or in a lab."""
    if lab is None:
        yield from equality_figures("in-process reference responder", cases, _in_process, repeat, jobs)
        return
    from tcpconform.lab.lab import temporary_lab
    from tcpconform.session import lab_session

    quick = [c for c in cases if not c.long]  # minutes each on a real clock, as --quick leaves them out
    with temporary_lab(lab_name) as made:
        yield from equality_figures(f"lab {lab}", quick, partial(lab_session, lab, lab_name=made.name), repeat, jobs)


def fuzz_bench(n: int, seed: int, targets: Sequence[str] = FUZZ_TARGETS) -> Iterator[str]:
    """The long robustness campaigns, ``n`` inputs each (case files: ``n`` / 1000, at least 100, as
    each is a file loaded in a process of its own): throughput, memory from the first tenth to the
    last, what broke.  The same checks the suite's property tests make, at a scale they cannot."""
    from tcpconform.bench.fuzz import decoder_figures, responder_figures
    from tcpconform.bench.fuzz_cases import case_file_figures

    runs = {"responder": lambda: responder_figures(n, seed), "decoder": lambda: decoder_figures(n, seed),
            "cases": lambda: case_file_figures(max(100, n // 1000), seed)}
    for name in targets:
        yield from runs[name]()


@dataclass(frozen=True)
class BenchRequest:
    """``tcpconform bench``'s options, as given."""

    repeat: int = 20
    wire: bool = False
    jobs: str = "8,16,32"
    lab_name: str | None = None
    equality: int | None = None
    lab: str | None = None
    fuzz: int | None = None
    fuzz_only: Sequence[str] = ()
    seed: int = 1
    packetdrill: str | None = None


def bench_lines(request: BenchRequest, cases: Sequence[TestCase]) -> Iterator[str]:
    """What ``tcpconform bench`` prints for ``request``; a :class:`UsageError` for options that do not go together."""
    if request.packetdrill is not None:
        from tcpconform.bench.packetdrill import packetdrill_figures, packetdrill_verdicts

        if cases:
            yield from packetdrill_verdicts(request.packetdrill, cases, request.lab_name)
        else:
            yield from packetdrill_figures(request.packetdrill, request.repeat, request.lab_name)
        return
    if request.fuzz is not None:
        yield from fuzz_bench(request.fuzz, request.seed, request.fuzz_only or FUZZ_TARGETS)
        return
    if request.lab is not None and request.equality is None:
        raise UsageError("--lab goes with --equality (the wire figures come with --wire)")
    jobs = job_counts(request.jobs)
    if request.equality is not None:
        yield from equality_bench(request.equality, cases, jobs[0], lab=request.lab, lab_name=request.lab_name)
        return
    yield from in_process_bench(request.repeat, cases, jobs)
    if request.wire:
        yield from wire_bench(request.repeat, cases, jobs, lab_name=request.lab_name)


def job_counts(text: str) -> list[int]:
    """``--jobs 8,16,32`` as numbers, each 2 or more (1, the serial run, is always measured)."""
    try:
        counts = [int(n) for n in text.split(",") if n.strip()]
    except ValueError:
        raise UsageError(f"--jobs {text!r}: give numbers separated by commas, e.g. 8,16,32") from None
    if not counts or min(counts) < 2:
        raise UsageError(f"--jobs {text!r}: each count must be 2 or more (1 is the serial run, always measured)")
    return counts
