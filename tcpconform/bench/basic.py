"""The first figures: the seed suite in-process and per target, start-up, the engine's cost per segment.

Measured here: the seed suite's wall time in-process (engine only, and as a whole ``tcpconform
run`` process), the CLI's ``--help`` and ``list`` start-up, the engine's own cost per segment with
the reference responder's share taken out, and the seed suite per target on the wire.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Iterator


def _median_ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:.1f} ms, min {min(samples) * 1000:.1f} ms"


def _time_process(args: list[str], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        out.append(time.perf_counter() - t)
    return out


def seed_on_wire(repeat: int, lab_name: str) -> Iterator[str]:
    """The seed suite per target on the wire, in lab ``lab_name`` (which must be up)."""
    from tcpconform.cases.bundled import bundled_cases
    from tcpconform.cases.load import load_cases
    from tcpconform.cases.profiles import get_profile
    from tcpconform.engine.run import execute
    from tcpconform.session import lab_session

    cases = [c for c in load_cases([bundled_cases()]) if "seed" in c.tags]
    for kind in ("reference", "linux"):
        walls = []
        for _ in range(max(1, repeat // 10)):
            with lab_session(kind, lab_name=lab_name) as session:
                t = time.perf_counter()
                result = execute(cases, session.link, session.target, get_profile(session.profile),
                                 base_port=session.base_port)
                walls.append(time.perf_counter() - t)
        counts = result.counts()
        yield (f"seed suite over the wire, lab {kind}: {_median_ms(walls)} "
               f"({counts['pass']} pass, {counts['fail']} fail)")


def run_bench(repeat: int = 20) -> Iterator[str]:
    """The in-process figures: the seed suite (engine, whole process), start-up, per segment."""
    from tcpconform.cases.bundled import bundled_cases
    from tcpconform.cases.load import load_cases
    from tcpconform.cases.profiles import get_profile
    from tcpconform.engine.run import execute
    from tcpconform.links.inprocess import InProcessLink
    from tcpconform.targets.reference import open_reference

    cases = [c for c in load_cases([bundled_cases()]) if "seed" in c.tags]
    profile = get_profile("reference")
    yield f"tcpconform bench: {len(cases)} seed cases, {repeat} repetitions each, python {sys.version.split()[0]}"

    walls, per_seg, engine_seg, link_time = [], [], [], []
    for _ in range(repeat):
        ref = open_reference()
        t = time.perf_counter()
        result = execute(cases, ref.link, ref.target, profile)
        wall = time.perf_counter() - t
        assert isinstance(ref.link, InProcessLink)
        segments = ref.link.sent + ref.link.received
        walls.append(wall)
        per_seg.append(wall / segments)
        engine_seg.append((wall - ref.link.peer_time) / segments)
        link_time.append(result.meta.link_time)
        verdicts = {c.verdict for c in result.cases}
    yield f"seed suite in-process (engine): {_median_ms(walls)}; {segments} segments; verdicts {sorted(verdicts)}"
    yield (f"  protocol time the suite spans on the virtual clock: {statistics.median(link_time):.3f} s "
           f"(waited for free in-process)")
    yield (f"per segment: {statistics.median(per_seg) * 1e6:.1f} us all-in, "
           f"{statistics.median(engine_seg) * 1e6:.1f} us engine (responder excluded)")

    exe = [sys.executable, "-m", "tcpconform.cli"]
    proc = _time_process([*exe, "run", "-q", "-k", "seed", "--report-dir", "/tmp/tcpconform-bench"], max(3, repeat // 4))
    yield f"seed suite, whole 'tcpconform run' process: {_median_ms(proc)}"
    helps = _time_process([*exe, "--help"], repeat)
    yield f"'tcpconform --help': {_median_ms(helps)}"
    lists = _time_process([*exe, "list"], max(3, repeat // 4))
    yield f"'tcpconform list': {_median_ms(lists)}"
    scapy = _time_process([sys.executable, "-c", "import scapy.all"], max(3, repeat // 4))
    yield f"  (for scale: 'import scapy.all' alone: {_median_ms(scapy)})"
