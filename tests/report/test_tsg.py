"""The time-sequence graphs and the ladder's analysis words, on real runs against the reference
responder: their marks, in headless Chromium, and against tshark's own analysis of the pcaps.

The run has a retransmission (``data-retransmission``: the target sends its 512 bytes again after
1 s without an ACK) and a zero window (``window-zero-persist``: the tester advertises 0 and the
target probes behind it, with ACKs at SND.UNA - 1 that Wireshark calls keep-alives).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import pytest

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_cases
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.run import execute
from tcpconform.gate import evaluate
from tcpconform.report.analysis import RETRANSMISSIONS, ZERO_WINDOW_PROBE_ACK, capture_order, case_analysis
from tcpconform.report.html import write_html
from tcpconform.report.ladder import ANALYSIS, ladder_svg
from tcpconform.report.pcap import write_case_pcaps
from tcpconform.report.tsg import tsg_svgs
from tcpconform.results import CaseResult, RunResult, SessionMeta
from tcpconform.targets.reference import open_reference

SVG = "{http://www.w3.org/2000/svg}"
CASES = ("data-retransmission", "window-zero-persist")
TSHARK_CASES = (*CASES, "data-out-of-order", "handshake-syn-retransmitted", "reset-exact-sequence", "ts-echo-paws",
                "keepalive-probes", "window-sws-sender", "retransmission-backoff", "teardown-time-wait-refin")


@cache
def _run(ids: tuple[str, ...], fault: str | None = None) -> RunResult:
    ref = open_reference([fault] if fault else [])
    cases = [c for c in load_cases([bundled_cases()]) if c.id in ids]
    assert len(cases) == len(ids), "a bundled case this test names is gone"
    return execute(cases, ref.link, ref.target, get_profile("reference"), session=SessionMeta("in-process"))


def run(ids: tuple[str, ...] = CASES, fault: str | None = None) -> RunResult:
    return copy.deepcopy(_run(ids, fault))


def case_of(result: RunResult, case_id: str) -> CaseResult:
    return next(c for c in result.cases if c.id == case_id)


def graphs(case: CaseResult) -> list[ET.Element]:
    out = [ET.fromstring(svg) for svg in tsg_svgs(case)]
    assert all(g.tag == f"{SVG}svg" and g.get("class") == "tcpconform-tsg" for g in out)
    return out


def marks(graph: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in graph.iter(f"{SVG}g") if g.get("class") == cls]


# --- the graph's marks ----------------------------------------------------------------------------


def test_a_retransmission_is_a_red_bar_at_the_same_sequence_numbers() -> None:
    case = case_of(run(), "data-retransmission")
    (target,) = graphs(case)  # the tester sent no data: one graph
    assert target.get("data-direction") == "target → tester"
    data, again = marks(target, "tsg-data"), marks(target, "tsg-retransmission")
    assert len(again) == 1 and len(data) == 2  # the SYN-ACK and the first 512 bytes; then the copy
    bar = lambda g: g.find(f"{SVG}line")  # noqa: E731
    first, copy_ = bar(data[-1]), bar(again[0])
    assert first is not None and copy_ is not None
    assert (first.get("y1"), first.get("y2")) == (copy_.get("y1"), copy_.get("y2")), "same sequence numbers"
    assert float(copy_.get("x1", 0)) > float(first.get("x1", 0)) + 500, "1 s later, to scale"
    assert copy_.get("stroke") == "#cf222e"
    assert marks(target, "tsg-ack") and marks(target, "tsg-window")
    title = again[0].find(f"{SVG}title")
    assert title is not None and "[retransmission]" in (title.text or "")


def test_a_zero_window_is_marked_and_the_probes_behind_it() -> None:
    case = case_of(run(), "window-zero-persist")
    (target,) = graphs(case)
    assert len(marks(target, "tsg-zero-window")) == 2  # the tester's two ACKs with window 0
    assert len(marks(target, "tsg-keep-alive")) == 2  # the two probes at SND.UNA - 1
    assert len(marks(target, "tsg-retransmission")) == 0
    legend = " ".join(t.text or "" for t in target.iter(f"{SVG}text"))
    assert "zero window (2)" in legend and "keep-alive (2)" in legend and "retransmission (0)" in legend


def test_the_tester_gets_a_graph_when_it_sends_data() -> None:
    case = case_of(run(("data-out-of-order",)), "data-out-of-order")
    directions = [g.get("data-direction") for g in graphs(case)]
    assert directions == ["target → tester", "tester → target"]
    tester = graphs(case)[1]
    assert marks(tester, "tsg-data")


def test_graphs_are_deterministic_and_well_formed() -> None:
    one, two = run(), run()
    for a, b in zip(one.cases, two.cases, strict=True):
        assert tsg_svgs(a) == tsg_svgs(b)
    assert tsg_svgs(CaseResult("x", "t", "f.yaml", 1, "a", "MUST", [])) == []


def test_the_ladder_writes_the_words() -> None:
    result = run()
    retrans = ET.fromstring(ladder_svg(case_of(result, "data-retransmission")))
    words = [t.text for t in retrans.iter(f"{SVG}text") if t.get("fill") == ANALYSIS]
    assert words == ["[retransmission]"]
    zero = ET.fromstring(ladder_svg(case_of(result, "window-zero-persist")))
    words = [t.text for t in zero.iter(f"{SVG}text") if t.get("fill") == ANALYSIS]
    assert words == ["[zero window]", "[keep-alive]", "[zero window]", "[keep-alive]", "[window update]"]


# --- in a browser ---------------------------------------------------------------------------------

PROBE = """
<script>
document.querySelectorAll('details').forEach(function(d){d.open=true;});
var out={graphs:[],words:[]};
document.querySelectorAll('svg.tcpconform-tsg').forEach(function(svg){
  var box=svg.getBoundingClientRect(), marks={};
  svg.querySelectorAll('g[class^="tsg-"]').forEach(function(g){
    var b=g.getBBox(), cls=g.getAttribute('class');
    if(b.width>0||b.height>0){marks[cls]=(marks[cls]||0)+1;}
    if(cls==='tsg-retransmission'){marks.retransmissionStroke=getComputedStyle(g.querySelector('line')).stroke;}
  });
  out.graphs.push({case:svg.getAttribute('aria-label'),width:box.width,height:box.height,marks:marks});
});
document.querySelectorAll('svg.tcpconform-ladder text').forEach(function(t){
  if(/^\\[/.test(t.textContent)&&t.getBBox().width>0){out.words.push(t.textContent);}
});
var pre=document.createElement('pre');pre.id='probe';pre.textContent=JSON.stringify(out);document.body.appendChild(pre);
</script>
"""
"""Appended to a copy of the page: opens every case, then writes what Chromium laid out (the size of
each graph, the marks with a non-empty box, the words the ladders show) into ``<pre id="probe">``."""


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def probe(page: Path, profile: Path) -> dict[str, list[object]]:
    browser = _chromium()
    assert browser is not None
    probed = page.with_name("probed.html")
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--window-size=1200,3000", "--dump-dom", probed.resolve().as_uri()],
        capture_output=True, timeout=120, check=False)
    found = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout.decode(errors="replace"), re.S)
    assert found, proc.stderr.decode(errors="replace")[-2000:]
    return dict(json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&")
                           .replace("&lt;", "<").replace("&gt;", ">")))


def check_rendered(seen: dict[str, list[object]]) -> None:
    """What a reader must see: a graph per case, the red retransmission bar, the zero windows and the
    probes, the ACK and window lines, and the words on the ladders."""
    by_case: dict[str, dict[str, object]] = {}
    for graph in seen["graphs"]:
        assert isinstance(graph, dict)
        assert graph["width"] == 1000 and graph["height"] == 330, graph
        by_case[str(graph["case"]).split(":")[0]] = graph
    assert set(by_case) == set(CASES)
    retrans = by_case["data-retransmission"]["marks"]
    zero = by_case["window-zero-persist"]["marks"]
    assert isinstance(retrans, dict) and isinstance(zero, dict)
    assert retrans.get("tsg-retransmission") == 1 and retrans.get("retransmissionStroke") == "rgb(207, 34, 46)"
    assert retrans.get("tsg-ack") == 1 and retrans.get("tsg-window") == 1 and retrans.get("tsg-data") == 2
    assert zero.get("tsg-zero-window") == 2 and zero.get("tsg-keep-alive") == 2
    for word in ("[retransmission]", "[zero window]", "[keep-alive]", "[window update]"):
        assert word in seen["words"], word


@pytest.mark.skipif(_chromium() is None, reason="no chromium installed (scripts/install-system-packages)")
def test_graphs_and_words_render_in_headless_chromium(tmp_path: Path) -> None:
    result = run()
    page = write_html(result, evaluate(result, None), tmp_path / "report.html")
    check_rendered(probe(page, tmp_path / "profile"))
    # the same check on a page whose retransmission bar is broken (no length) must fail
    broken = page.read_text(encoding="utf-8")
    bar = re.search(r'<g class="tsg-retransmission">.*?</g>', broken)
    assert bar
    broken = broken.replace(bar.group(0), '<g class="tsg-retransmission"></g>')
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "report.html").write_text(broken, encoding="utf-8")
    with pytest.raises(AssertionError):
        check_rendered(probe(tmp_path / "broken" / "report.html", tmp_path / "profile2"))


# --- against tshark -------------------------------------------------------------------------------

TSHARK_FIELDS = {
    "retransmission": "tcp.analysis.retransmission", "out-of-order": "tcp.analysis.out_of_order",
    "dup ACK": "tcp.analysis.duplicate_ack_num", "window update": "tcp.analysis.window_update",
    "zero window": "tcp.analysis.zero_window", "zero window probe": "tcp.analysis.zero_window_probe",
    "keep-alive": "tcp.analysis.keep_alive", "keep-alive ACK": "tcp.analysis.keep_alive_ack",
}


def tshark_words(pcap: Path) -> list[set[str]]:
    """tshark's analysis of each frame, as the set of our words for the ``tcp.analysis.*`` fields it sets."""
    tshark = shutil.which("tshark")
    assert tshark is not None
    cmd = [tshark, "-n", "-r", str(pcap), "-T", "fields", "-E", "separator=\t"]
    for name in TSHARK_FIELDS.values():
        cmd += ["-e", name]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
    return [{w for w, v in zip(TSHARK_FIELDS, line.split("\t"), strict=True) if v}
            for line in proc.stdout.splitlines()]


def our_words(case: CaseResult) -> list[set[str]]:
    """Ours for the same frames, in the pcap's order, named as tshark's fields group them."""
    found = case_analysis(case)
    out = []
    for index in capture_order(case):
        analysis = found.get(index)
        flags = set(analysis.flags) if analysis is not None else set()
        words = {"retransmission" if f in RETRANSMISSIONS else f for f in flags} - {ZERO_WINDOW_PROBE_ACK}
        out.append(words)
    return out


@pytest.mark.skipif(shutil.which("tshark") is None, reason="no tshark installed (scripts/install-system-packages)")
@pytest.mark.parametrize("fault", [None, "drop-out-of-order"])
def test_the_words_agree_with_tshark_frame_by_frame(tmp_path: Path, fault: str | None) -> None:
    result = run(TSHARK_CASES, fault)
    for case in result.cases:
        case.started_wall = 0.0  # stamps of the virtual clock exactly: a wall-clock offset would round them
    write_case_pcaps(result, tmp_path)
    seen: set[str] = set()
    for case in result.cases:
        if not case.pcap:
            continue
        theirs, ours = tshark_words(tmp_path / case.pcap), our_words(case)
        assert len(theirs) == len(ours), case.id
        for frame, (t, o) in enumerate(zip(theirs, ours, strict=True), 1):
            assert t == o, f"{case.id} frame {frame}: tshark {sorted(t)}, ours {sorted(o)}"
            seen |= o
    if fault is None:  # the comparison covered the words that matter here
        assert {"retransmission", "dup ACK", "window update", "zero window", "keep-alive"} <= seen, seen


@pytest.mark.skipif(shutil.which("tshark") is None, reason="no tshark installed (scripts/install-system-packages)")
def test_the_run_pcap_filtered_by_tshark_gives_the_frames_we_name(tmp_path: Path) -> None:
    """``tshark -r run.pcap -Y tcp.analysis.<word>``: the frame numbers, against the frames we give that word.

    run.pcap holds every case's frames in time order (:func:`~tcpconform.report.pcap.write_run_pcap`:
    the cases' frames one after the other, then a stable sort by time); the cases' tester ports differ,
    so tshark keeps their connections apart as the analysis does."""
    from tcpconform.report import write_reports

    result = run(TSHARK_CASES)
    for case in result.cases:
        case.started_wall = 0.0
    assert len({c.connection.get("tester") for c in result.cases}) == len(result.cases), "one port per case"
    written = write_reports(result, evaluate(result, None), tmp_path)
    frames = [(case.started_wall + case.segments[i].at, case, i) for case in result.cases for i in capture_order(case)]
    frames.sort(key=lambda f: f[0])
    analyses = {id(case): case_analysis(case) for case in result.cases}
    tshark = shutil.which("tshark")
    assert tshark is not None
    for word, field in TSHARK_FIELDS.items():
        proc = subprocess.run([tshark, "-n", "-r", str(written["pcap"]), "-Y", field, "-T", "fields", "-e", "frame.number"],
                              capture_output=True, text=True, timeout=120, check=True)
        theirs = {int(n) for n in proc.stdout.split()}
        ours = set()
        for number, (_, case, index) in enumerate(frames, 1):
            analysis = analyses[id(case)].get(index)
            flags = analysis.flags if analysis is not None else frozenset()
            if word in flags or (word == "retransmission" and flags & RETRANSMISSIONS):
                ours.add(number)
        assert theirs == ours, f"{field}: tshark frames {sorted(theirs - ours)} only, ours {sorted(ours - theirs)} only"
        if word in ("retransmission", "zero window", "keep-alive", "dup ACK"):
            assert theirs, f"the run has no {word}: the comparison would prove nothing"


def _synthetic(isn: int, window: int) -> CaseResult:
    """The target sends three segments of 100 bytes from ``isn`` (which may wrap); the tester ACKs each."""
    from tcpconform.results import SegmentRecord
    from tcpconform.tcp import seqnum
    from tcpconform.tcp.segment import Flags, Segment

    case = CaseResult("synthetic", "t", "f.yaml", 1, "a", "MUST", [])
    tester, target = ("192.0.2.1", 40000), ("192.0.2.2", 8000)

    def add(at: float, frm: tuple[str, int], to: tuple[str, int], seq: int, ack: int, flags: str, data: int,
            win: int) -> None:
        seg = Segment(frm[0], to[0], frm[1], to[1], seqnum.add(seq, 0), seqnum.add(ack, 0), Flags.parse(flags), win,
                      payload=b"x" * data)
        case.segments.append(SegmentRecord("out" if frm == tester else "in", at, seg.summary(), seg.summary(), {},
                                           segment=seg))

    add(0.0, tester, target, 7, 0, "S", 0, window)
    add(0.001, target, tester, isn, 8, "SA", 0, 65535)
    add(0.002, tester, target, 8, isn + 1, "A", 0, window)
    for k in range(3):
        add(0.01 + k * 0.01, target, tester, isn + 1 + 100 * k, 8, "PA", 100, 65535)
        add(0.015 + k * 0.01, tester, target, 8, isn + 101 + 100 * k, "A", 0, window)
    return case


def _bar_tops(graph: ET.Element) -> list[float]:
    return [float(g.find(f"{SVG}line").get("y2", 0)) for g in marks(graph, "tsg-data")]  # type: ignore[union-attr]


def test_a_wrapping_connection_draws_as_a_straight_one_and_a_big_window_is_cut() -> None:
    plain = graphs(_synthetic(1000, 50))[0]
    wrapping = graphs(_synthetic(0xFFFFFFFF - 150, 50))[0]
    assert _bar_tops(plain) == _bar_tops(wrapping)  # the same picture across 2^32
    tops = _bar_tops(plain)
    assert tops == sorted(tops, reverse=True) and len(tops) == 4  # the SYN-ACK, then each segment higher up
    assert ET.tostring(plain) == ET.tostring(wrapping)  # titles hold relative numbers too

    def window_title(graph: ET.Element) -> str:
        title = marks(graph, "tsg-window")[0].find(f"{SVG}title")
        return (title.text or "") if title is not None else ""

    assert "cut" not in window_title(plain)
    big = graphs(_synthetic(1000, 60000))[0]
    assert "cut at the top; highest 60301" in window_title(big)
    from tcpconform.report.tsg import BOTTOM, HEIGHT, TOP

    tops = _bar_tops(big)  # the data keeps most of the graph's height: the window does not squash it
    assert max(tops) - min(tops) > 0.6 * (HEIGHT - TOP - BOTTOM) and min(tops) >= TOP
