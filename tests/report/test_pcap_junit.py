"""pcap, JUnit and JSON reports, read back with the tools that will read them: Scapy, tshark, an XML parser."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_cases
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.run import execute
from tcpconform.gate import evaluate
from tcpconform.report import write_reports
from tcpconform.results import RunResult
from tcpconform.targets.reference import open_reference


def _run(faults: tuple[str, ...] = ()) -> RunResult:
    ref = open_reference(faults)
    return execute(load_cases([bundled_cases()]), ref.link, ref.target, get_profile("reference"))


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, Path]:
    result = _run(("fin-without-app",))
    out = tmp_path_factory.mktemp("reports")
    write_reports(result, evaluate(result, None), out)
    return result, out


def test_every_report_is_written(reports: tuple[RunResult, Path]) -> None:
    _, out = reports
    for name in ("results.json", "junit.xml", "run.pcap"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "pcap").iterdir())


def test_pcaps_hold_exactly_the_segments_of_the_results(reports: tuple[RunResult, Path]) -> None:
    from scapy.all import TCP, rdpcap  # the full import registers Ethernet for the pcap link type

    result, out = reports
    data = json.loads((out / "results.json").read_text())
    total = 0
    for case in data["cases"]:
        if case["pcap"] is None:  # a case skipped before it sent anything (the other address family's), or one
            # whose target was to send nothing, and sent nothing (an active open to a group address, refused)
            refused = [s["message"] for s in case["steps"] if s["message"].startswith("refused: ")]
            assert (case["verdict"] == "skip" or refused) and not case["segments"], case["id"]
            continue
        packets = rdpcap(str(out / case["pcap"]))
        assert len(packets) == len(case["segments"]), case["id"]
        in_time = sorted(case["segments"], key=lambda s: s["at"])  # the pcap is in time order
        for pkt, seg in zip(packets, in_time, strict=True):
            f = seg["fields"]
            if "icmp" in f:  # an ICMP error the tester sent: the segment it quotes
                assert pkt.haslayer("TCPerror") and pkt["TCPerror"].seq == f["quoted_seq"], case["id"]
                continue
            tcp = pkt[TCP]
            assert (tcp.seq, tcp.ack, str(tcp.flags), tcp.window, len(tcp.payload)) == (
                f["seq"], f["ack"], f["flags"], f["window"], f["len"])
        times = [float(p.time) for p in packets]
        assert times == sorted(times)
        total += len(packets)
    assert len(rdpcap(str(out / "run.pcap"))) == total
    # the bytes in the pcap are the bytes the results hold
    case = result.cases[0]
    assert [bytes(p) for p in rdpcap(str(out / f"pcap/{case.id}.pcap"))] == [s.frame for s in case.segments]


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_reads_the_pcaps_without_complaint(reports: tuple[RunResult, Path]) -> None:
    _, out = reports
    done = subprocess.run(["tshark", "-r", str(out / "run.pcap"), "-T", "fields", "-e", "tcp.seq_raw"],
                          capture_output=True, text=True)
    assert done.returncode == 0
    complaints = [ln for ln in done.stderr.splitlines() if "root" not in ln]  # tshark's warning about running as root
    assert complaints == []
    cases = json.loads((out / "results.json").read_text())["cases"]
    assert len(done.stdout.split()) == sum(1 for c in cases for s in c["segments"] if "icmp" not in s["fields"])
    # Some catalogue cases send malformed segments on purpose (a data offset of 4 words); the seed's are clean.
    for case in ("seed-full-sequence", "seed-window", "data-out-of-order"):
        malformed = subprocess.run(["tshark", "-r", str(out / "pcap" / f"{case}.pcap"), "-Y",
                                    "_ws.malformed || _ws.expert.severity == error"], capture_output=True, text=True)
        assert malformed.returncode == 0 and malformed.stdout.strip() == "", case


def test_junit_is_what_ci_systems_read(reports: tuple[RunResult, Path]) -> None:
    result, out = reports
    root = ET.parse(out / "junit.xml").getroot()
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == len(result.cases) == int(suite.get("tests", "0"))
    failed = {tc.get("name") for tc in cases if tc.find("failure") is not None}
    assert failed == {c.id for c in result.cases if c.verdict == "fail"} and "seed-teardown" in failed
    assert int(suite.get("failures", "0")) == len(failed)
    teardown = next(tc for tc in cases if tc.get("name") == "seed-teardown")
    failure = teardown.find("failure")
    assert failure is not None and "06-teardown.yaml" in failure.get("message", "")
    assert "RFC 9293" in (failure.text or "") and "flags" in (failure.text or "")
    assert any(p.get("name") == "level" and p.get("value") == "MUST" for p in teardown.iter("property"))
