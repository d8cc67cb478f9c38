"""How long writing a run's reports takes, and how big they are: one serial catalogue run, then
every format ``write_reports`` writes, timed as a whole and the HTML page alone.

The HTML page grows with the segments the run saw (a ladder per case); the figure shows whether it
stays linear: bytes per segment beside seconds.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from tcpconform.bench.catalogue import Opener, run_once
from tcpconform.cases.model import TestCase

__all__ = ["report_figures"]


def report_figures(cases: Sequence[TestCase], opener: Opener) -> Iterator[str]:
    """Seconds to write every report of one catalogue run and to render its HTML page; their sizes."""
    from tcpconform.gate import evaluate
    from tcpconform.report import write_reports
    from tcpconform.report.html import render_html

    result = run_once(cases, opener, 1).result
    gate = evaluate(result, None)
    segments = sum(len(c.segments) for c in result.cases)
    t = time.perf_counter()
    page = render_html(result, gate)
    html_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory(prefix="tcpc-bench-") as tmp:
        t = time.perf_counter()
        written = write_reports(result, gate, Path(tmp))
        all_s = time.perf_counter() - t
        sizes = {fmt: path.stat().st_size for fmt, path in written.items() if path.is_file()}
    yield f"reports of one catalogue run: {len(result.cases)} cases, {segments:,} segments"
    yield (f"  report.html rendered in {html_s * 1000:.0f} ms: {len(page):,} bytes, "
           f"{len(page) / max(1, segments):,.0f} bytes per segment")
    yield (f"  every report written in {all_s * 1000:.0f} ms: "
           + ", ".join(f"{fmt} {size / 1024:,.0f} KiB" for fmt, size in sorted(sizes.items())))
