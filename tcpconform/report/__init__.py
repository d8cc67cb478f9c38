"""Reports of a run, all written from one :class:`~tcpconform.results.RunResult`.

``write_reports(result, gate, directory)`` writes every format a run produces into one directory:
``results.json``, ``junit.xml``, ``report.html`` (ladder diagrams), and pcaps (``run.pcap`` and
``pcap/<case id>.pcap``).  Every writer ships with the package; the CLI and the pytest plugin both
call this, so every way of running cases leaves the same files behind.  A run that writes as it
goes uses :class:`ReportSet` itself.
"""

from __future__ import annotations

from pathlib import Path

from tcpconform.gate import GateVerdict
from tcpconform.report.reportset import ReportSet
from tcpconform.results import RunResult

__all__ = ["ReportSet", "write_reports"]


def write_reports(result: RunResult, gate: GateVerdict, directory: Path) -> dict[str, Path]:
    """Write every report of ``result`` and its ``gate`` verdict into ``directory``, in place of the
    set an earlier run left there (:class:`ReportSet`); returns ``{format: path}``."""
    reports = ReportSet(directory, {}, realtime=result.meta.clock == "realtime")
    reports.start()
    return reports.finish(result, gate)
