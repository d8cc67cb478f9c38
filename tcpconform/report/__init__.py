"""Reports of a run, all written from one :class:`~tcpconform.results.RunResult`.

``write_reports(result, gate, directory)`` writes every format a run produces into one directory:
``results.json``, ``junit.xml``, ``report.html`` (ladder diagrams), and pcaps (``run.pcap`` and
``pcap/<case id>.pcap``).  Every writer ships with the package; the CLI and the pytest plugin both
call this, so every way of running cases leaves the same files behind.
"""

from __future__ import annotations

from pathlib import Path

from tcpconform.gate import GateVerdict
from tcpconform.report.html import write_html
from tcpconform.report.junit import write_junit
from tcpconform.report.pcap import write_case_pcaps
from tcpconform.results import RunResult


def write_reports(result: RunResult, gate: GateVerdict, directory: Path) -> dict[str, Path]:
    """Write every report of ``result`` and its ``gate`` verdict into ``directory``; returns ``{format: path}``."""
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    written["pcap"] = write_case_pcaps(result, directory)
    written["json"] = result.write_json(directory)
    written["junit"] = write_junit(result, gate, directory / "junit.xml")
    written["html"] = write_html(result, gate, directory / "report.html")
    return written
