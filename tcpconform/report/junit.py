"""JUnit XML, the result format CI systems read (testsuites / testsuite / testcase / failure).

One ``testcase`` per case (``classname`` = area, ``name`` = case id), with the case's level and
RFC references as properties; a failure carries the one-line reason as its message and the console's
failure block (step ``file:line``, clause, mismatch table, exchange) as its text, so a CI page shows
what a terminal would.  A known deviation from the baseline is reported as skipped, not failed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from tcpconform.gate import GateVerdict
from tcpconform.report.console import failure_detail, ladder
from tcpconform.results import RunResult, write_atomically


def build_junit(result: RunResult, gate: GateVerdict) -> ET.Element:
    counts = result.counts()
    meta = result.meta.to_dict()
    known = set(gate.known)
    expected = len(known)
    suites = ET.Element("testsuites")
    suite = ET.SubElement(suites, "testsuite", {
        "name": "tcpconform",
        "tests": str(len(result.cases)),
        "failures": str(counts["fail"] - expected),
        "errors": str(counts["error"]),
        "skipped": str(counts["skip"] + expected),
        "time": f"{result.meta.duration:.6f}",
        "timestamp": result.meta.started,
    })
    props = ET.SubElement(suite, "properties")
    for key in ("target", "target_address", "link", "profile", "mode"):
        if key in meta:
            ET.SubElement(props, "property", {"name": key, "value": str(meta[key])})
    for case in result.cases:
        tc = ET.SubElement(suite, "testcase", {
            "classname": f"tcpconform.{case.area or 'cases'}",
            "name": case.id,
            "time": f"{case.duration:.6f}",
            "file": case.file,
            "line": str(case.line),
        })
        cprops = ET.SubElement(tc, "properties")
        ET.SubElement(cprops, "property", {"name": "level", "value": case.level})
        for req in case.requirements:
            ref = req.ref + (f" {req.rid}" if req.rid else "")
            ET.SubElement(cprops, "property", {"name": "rfc", "value": f"{ref} ({req.level})"})
        for name, value in case.figures.items():  # measurements a CI can trend (ISN bits, RTOs)
            ET.SubElement(cprops, "property", {"name": f"figure.{name}", "value": str(value)})
        detail = "\n".join(failure_detail(case))
        if case.id in known:
            ET.SubElement(tc, "skipped", {"message": f"known deviation (baseline): {case.reason}"}).text = detail
        elif case.verdict == "fail":
            ET.SubElement(tc, "failure", {"message": case.reason, "type": case.failed_level or case.level}).text = detail
        elif case.verdict == "error":
            ET.SubElement(tc, "error", {"message": case.reason, "type": "error"}).text = detail
        elif case.verdict == "skip":
            ET.SubElement(tc, "skipped", {"message": case.reason})
        ET.SubElement(tc, "system-out").text = "\n".join(ladder(case))
    return suites


def write_junit(result: RunResult, gate: GateVerdict, path: Path) -> Path:
    """Write ``junit.xml`` whole or not at all: a CI reader fails on half a file."""
    root = build_junit(result, gate)
    ET.indent(root)
    return write_atomically(path, ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")
