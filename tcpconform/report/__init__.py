"""Reports of a run, all written from one :class:`~tcpconform.results.RunResult`.

``write_reports(result, directory)`` writes every format a run produces into one directory:
``results.json``, ``junit.xml``, ``report.html`` (ladder diagrams), and pcaps (``run.pcap`` and
``pcap/<case id>.pcap``).  The console, the CLI and the pytest plugin all call it, so every way of
running cases leaves the same files behind.
"""

from __future__ import annotations

from pathlib import Path

from tcpconform.results import RunResult


def write_reports(result: RunResult, directory: Path) -> dict[str, Path]:
    """Write every report of ``result`` into ``directory``; returns ``{format: path}``."""
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    written["pcap"] = _pcaps(result, directory)
    written["json"] = result.write_json(directory)
    from tcpconform.report.junit import write_junit

    written["junit"] = write_junit(result, directory / "junit.xml")
    try:
        from tcpconform.report.html import write_html
    except ImportError:  # pragma: no cover - the HTML writer ships with the package
        return written
    written["html"] = write_html(result, directory / "report.html")
    return written


def _pcaps(result: RunResult, directory: Path) -> Path:
    from tcpconform.report.pcap import write_case_pcaps

    return write_case_pcaps(result, directory)
