"""``tcpconform bench``: the figures behind the speed targets, printed, never asserted.

Timed tests are flaky and hide regressions behind a threshold; a benchmark prints numbers that a
person compares across runs.  Measured here: the seed suite's wall time in-process (engine only,
and as a whole ``tcpconform run`` process), the CLI's ``--help`` start-up, and the engine's own
cost per segment with the reference responder's share taken out.
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


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wire_bench(repeat: int, lab_name: str = "5") -> Iterator[str]:
    """Figures on real links (root): SYN to SYN-ACK through the driver, and the seed suite per target."""
    from .lab import temporary_lab
    from .loader import load_cases
    from .paths import bundled_cases
    from .profiles import get_profile
    from .run import execute
    from .segment import Flags, Segment
    from .session import lab_session

    cases = [c for c in load_cases([bundled_cases()]) if "seed" in c.tags]
    with temporary_lab(lab_name):
        with lab_session("linux", lab_name=lab_name) as session:
            link, target = session.link, session.target
            from .segment import FourTuple

            target.app(FourTuple("0.0.0.0", 0, target.ip, target.port), "listen")
            rtts = []
            for i in range(max(50, repeat * 10)):
                syn = Segment(link.endpoint.ip, target.ip, 50000 + i, target.port, seq=1000, flags=Flags.SYN,  # type: ignore[attr-defined]
                              window=5000, options=(("MSS", 512),))
                sent = link.send(syn)
                got = link.receive(1.0)
                while got is not None and not got.segment.flags & Flags.SYN:
                    got = link.receive(1.0)
                if got is not None:
                    rtts.append(got.at - sent)
                    link.send(Segment(syn.src, syn.dst, syn.sport, syn.dport, seq=1001, flags=Flags.RST))
            yield (f"SYN to SYN-ACK through the raw-socket driver, lab Linux target: median "
                   f"{statistics.median(rtts) * 1e6:.0f} us, p99 {_percentile(rtts, 0.99) * 1e6:.0f} us "
                   f"({len(rtts)} samples, kernel receive timestamps)")
        for kind in ("reference", "linux"):
            walls = []
            for _ in range(max(1, repeat // 10)):
                with lab_session(kind, lab_name=lab_name) as session:
                    t = time.perf_counter()
                    result = execute(cases, session.link, session.target, get_profile(session.profile))
                    walls.append(time.perf_counter() - t)
            counts = result.counts()
            yield (f"seed suite over the wire, lab {kind}: {_median_ms(walls)} "
                   f"({counts['pass']} pass, {counts['fail']} fail)")


def run_bench(repeat: int = 20) -> Iterator[str]:
    from .links.inprocess import InProcessLink
    from .loader import load_cases
    from .paths import bundled_cases
    from .profiles import get_profile
    from .run import execute, open_reference

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
        link_time.append(result.meta["link_time"])
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
    scapy = _time_process([sys.executable, "-c", "import scapy.all"], max(3, repeat // 4))
    yield f"  (for scale: 'import scapy.all' alone: {_median_ms(scapy)})"
