"""The HTML report and its ladder diagrams, built from real runs against the reference responder.

The faults give the three ways a step fails that the ladder must show differently: a wrong segment
(``fin-without-app``: highlighted red with its field diff), a segment that never came
(``ignore-fin``, ``no-fin-on-close``: a dashed "expected" arrow), and a broken invariant
(``ack-unreceived``).  The page must stand alone (no network), escape what case files say, and
stay fast on big runs.
"""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import pytest
from support.browser import browser, chromium

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_cases
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.run import execute
from tcpconform.gate import evaluate
from tcpconform.report.html import render_html, write_html
from tcpconform.report.ladder import CHAR_W, RED, ladder_svg
from tcpconform.results import CaseResult, Mismatch, RunResult, SegmentRecord, SessionMeta
from tcpconform.targets.reference import open_reference

SVG_NS = "{http://www.w3.org/2000/svg}"


@cache
def _run(fault: str | None) -> RunResult:
    ref = open_reference([fault] if fault else [])
    result = execute(load_cases([bundled_cases()]), ref.link, ref.target, get_profile("reference"),
                     session=SessionMeta("in-process"))
    result.meta.faults = [fault] if fault else []
    return result


def run(fault: str | None) -> RunResult:
    """A fresh copy of a cached run, so a test may change it."""
    return copy.deepcopy(_run(fault))


def case_of(result: RunResult, case_id: str) -> CaseResult:
    return next(c for c in result.cases if c.id == case_id)


class _Page(HTMLParser):
    """Collects what the assertions look at: every tag with its attributes, and the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def svg_root(case: CaseResult) -> ET.Element:
    """The ladder parsed as XML: a standalone SVG must be well-formed on its own."""
    root = ET.fromstring(ladder_svg(case))
    assert root.tag == f"{SVG_NS}svg"
    return root


def texts(root: ET.Element, fill: str | None = None) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG_NS}text") if fill is None or t.get("fill") == fill]


def joined(root: ET.Element, fill: str | None = None) -> str:
    """All the text, wrapped lines joined again (the ladder wraps long labels at spaces)."""
    return " ".join(texts(root, fill))


# --- the page -------------------------------------------------------------------------------------


def test_page_parses_is_self_contained_and_has_a_section_and_filter_per_verdict(tmp_path: Path) -> None:
    result = run("fin-without-app")
    path = write_html(result, evaluate(result, None), tmp_path / "report.html")
    assert path == tmp_path / "report.html" and not list(tmp_path.glob("*.tmp"))
    page = path.read_text(encoding="utf-8")
    parsed = parse(page)
    for tag, attrs in parsed.tags:
        for name in ("src", "href", "xlink:href", "action", "data"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value.startswith(("http:", "https:", "//", "ftp:")), (tag, name, value)
        assert not (tag == "link" and attrs.get("rel") == "stylesheet"), "CSS must be inline"
        assert not (tag == "script" and attrs.get("src")), "scripts must be inline"
    assert "@import" not in page and "url(" not in page
    sections = [a for t, a in parsed.tags if t == "section" and "case" in (a.get("class") or "").split()]
    assert len(sections) == len(result.cases)
    assert [s.get("data-case-verdict") for s in sections] == [c.verdict for c in result.cases]
    boxes = {a.get("data-verdict") for t, a in parsed.tags if t == "input" and a.get("type") == "checkbox"}
    assert boxes == {"pass", "fail", "error", "skip"}
    assert page.count('class="tcpconform-ladder"') == sum(1 for c in result.cases if c.segments or c.target_events)
    assert page.count("<svg") == page.count('class="tcpconform-ladder"') + page.count('class="tcpconform-tsg"')


def test_header_has_metadata_counts_by_verdict_and_level() -> None:
    result = run("fin-without-app")
    result.meta.session = SessionMeta("in-process", rst_suppression="nftables rule for source ports 40000-40999",
                                      warnings=("eth1: gro on (a raw socket sees merged segments)",))
    page = render_html(result, evaluate(result, None))
    text = " ".join(parse(page).text)
    for needle in ("reference responder (in-process)", "192.0.2.2:8000", "fin-without-app", "in-process",
                   "reference", "tcpconform 0.1.0", "nftables rule for source ports 40000-40999",
                   "eth1: gro on (a raw socket sees merged segments)", "MUST", "SHOULD"):
        assert needle in text, needle
    counts = result.counts()
    assert counts["fail"] >= 1
    flat = re.sub(r"<[^>]+>", "", page)
    assert f"fail ({counts['fail']})" in flat and f"pass ({counts['pass']})" in flat


def test_gate_follows_fail_on_and_the_baseline() -> None:
    result = run("fin-without-app")
    assert "gate: FAIL" in render_html(result, evaluate(result, "must"))
    for case in result.cases:
        if case.verdict == "fail":
            case.baseline = "expected-fail"
    page = render_html(result, evaluate(result, "must"))
    assert "gate: pass" in page and "baseline: expected-fail" in page


def test_failing_case_shows_clauses_steps_mismatches_and_segments() -> None:
    result = run("fin-without-app")
    case = case_of(result, "seed-teardown")
    assert case.verdict == "fail"
    case.pcap = "pcap/seed-teardown.pcap"
    page = render_html(result, evaluate(result, None))
    parsed = parse(page)
    text = " ".join(parsed.text)
    step = case.failed_step
    assert step is not None
    for needle in (step.loc, "RFC 9293 3.10.7.4", "On a FIN in ESTABLISHED", "unexpected segment: F. 101:101(0) ack 2",
                   "expected: ", ". 101:101(0) ack 2", "F. 101:101(0) ack 2 win 65535", "not-run"):
        assert needle in text, needle
    assert ("a", {"href": "pcap/seed-teardown.pcap"}) in parsed.tags
    # the mismatch table, field by field
    assert re.search(r"<td><code>flags</code></td><td><code>\.</code></td><td><code>F\.</code></td>", page)


def test_pcap_link_never_points_at_the_network() -> None:
    result = run("fin-without-app")
    case_of(result, "seed-teardown").pcap = "https://example.com/x.pcap"
    case_of(result, "seed-handshake").pcap = "//example.com/y.pcap"
    parsed = parse(render_html(result, evaluate(result, None)))
    hrefs = [a.get("href") or "" for t, a in parsed.tags if t == "a"]
    assert not any("example.com" in h for h in hrefs)


def test_user_text_is_escaped_in_page_and_ladder() -> None:
    result = run("fin-without-app")
    case = case_of(result, "seed-teardown")
    evil = "<script>alert('x')</script> & \"quoted\" <b>bold</b>"
    case.title = evil
    case.id = "seed-<teardown>"
    case.steps[0].text = evil
    case.steps[0].message = evil
    case.reason = evil
    case.segments[0].note = evil
    case.target_events[0].detail = evil
    page = render_html(result, evaluate(result, None))
    assert "<script>alert" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quoted&quot;" in page
    assert "seed-&lt;teardown&gt;" in page
    assert len([t for t, _ in parse(page).tags if t == "script"]) == 1  # the filter only
    root = svg_root(case)  # still well-formed XML
    assert "<script>alert('x')</script> & \"quoted\" <b>bold</b>" in joined(root)


def test_write_reports_writes_the_page_beside_the_other_reports(tmp_path: Path) -> None:
    from tcpconform.report import write_reports

    result = run("fin-without-app")
    written = write_reports(result, evaluate(result, None), tmp_path)
    page = written["html"].read_text(encoding="utf-8")
    assert written["html"] == tmp_path / "report.html"
    assert 'href="results.json"' in page
    case = case_of(run("fin-without-app"), "seed-teardown")
    assert case.id in page


# --- the ladder -----------------------------------------------------------------------------------


def test_ladder_highlights_the_first_mismatching_segment_with_its_diff() -> None:
    case = case_of(run("fin-without-app"), "seed-teardown")
    root = svg_root(case)
    red = joined(root, RED)
    assert "F. 101:101(0) ack 2 win 65535" in red  # the offending segment's label, in red
    assert "flags: expected ., got F." in red
    assert "expected . 101:101(0) ack 2" in red
    thick = [ln for ln in root.iter(f"{SVG_NS}line") if ln.get("stroke") == RED and float(ln.get("stroke-width", 0)) > 2]
    assert len(thick) == 1, "exactly one highlighted arrow"
    ln = thick[0]
    assert float(ln.get("x1", 0)) > float(ln.get("x2", 0)), "target -> tester: drawn right to left"
    assert float(ln.get("y2", 0)) > float(ln.get("y1", 0)), "arrows slant down in time"
    everything = joined(root)
    for state in ("LISTEN -> SYN_RCVD", "SYN_RCVD -> ESTABLISHED", "ESTABLISHED -> LAST_ACK", "LAST_ACK"):
        assert state in everything, state
    assert "tester (client)" in everything and "target (server)" in everything
    assert "0.104 ms" in everything  # time labels kept


def test_ladder_marks_tolerated_and_cleanup_segments() -> None:
    case = case_of(run("drop-out-of-order"), "data-out-of-order")
    root = svg_root(case)
    everything = joined(root)
    assert "tolerated: ack" in everything
    assert "cleanup: reset the connection" in everything
    assert "closest to the expected segment: ack: expected 1025, got 513" in everything
    assert "expected: . 101:101(0) ack 1025" in joined(root, RED)
    tolerated = [t for t in root.iter(f"{SVG_NS}text") if (t.text or "").startswith(". 101:101(0) ack 513")]
    assert tolerated and tolerated[0].get("fill") != RED  # muted, not the failure


@pytest.mark.parametrize(("fault", "case_id", "expected", "state"), [
    ("ignore-fin", "seed-teardown", ". 101:101(0) ack 2", "SYN_RCVD -> ESTABLISHED"),
    ("no-fin-on-close", "seed-teardown", "F. 101:101(0) ack 2", "ESTABLISHED -> CLOSE_WAIT"),
])
def test_ladder_draws_the_segment_that_never_came(fault: str, case_id: str, expected: str, state: str) -> None:
    case = case_of(run(fault), case_id)
    step = case.failed_step
    assert step is not None and not step.observed
    root = svg_root(case)
    assert f"expected: {expected}" in joined(root, RED)
    assert "never came" in joined(root, RED)
    assert state in joined(root)
    dashed = [ln for ln in root.iter(f"{SVG_NS}line") if ln.get("stroke") == RED and ln.get("stroke-dasharray")]
    assert len(dashed) == 1
    assert float(dashed[0].get("x1", 0)) > float(dashed[0].get("x2", 0)), "from the target"
    assert not [ln for ln in root.iter(f"{SVG_NS}line") if float(ln.get("stroke-width", 0)) > 2], "no segment is to blame"


def test_ladder_shows_a_broken_invariant() -> None:
    case = case_of(run("ack-unreceived"), "data-retransmission")
    root = svg_root(case)
    red = joined(root, RED)
    assert "P. 101:613(512) ack 101 win 65535" in red
    assert "ack (ack-not-beyond-sent): expected <= 1 (all the tester has sent), got 101 (100 bytes never sent)" in red


def test_ladder_marks_a_failed_step_without_a_segment() -> None:
    case = case_of(run(None), "seed-teardown")
    state = next(st for st in case.steps if st.kind == "state" and "CLOSE_WAIT" in st.text)
    state.verdict = "fail"
    state.message = "target state LAST_ACK, expected CLOSE_WAIT"
    state.mismatches = [Mismatch("state", "CLOSE_WAIT", "LAST_ACK")]
    case.verdict = "fail"
    root = svg_root(case)
    red = joined(root, RED)
    assert f"step {state.index}" in red and "state: expected CLOSE_WAIT, got LAST_ACK" in red
    assert_legible(root)


def test_passing_run_has_no_red() -> None:
    result = run(None)
    assert result.ok
    for case in result.cases:
        svg = ladder_svg(case)
        assert RED not in svg, case.id
    page = render_html(result, evaluate(result, None))
    assert 'class="case v-pass"' in page and 'class="case v-fail"' not in page


def assert_legible(root: ET.Element) -> None:
    """No text runs off the picture or into another text (widths from the monospace advance)."""
    boxes = []
    for t in root.iter(f"{SVG_NS}text"):
        if t.get("transform"):
            continue
        size = float(t.get("font-size", 12))
        assert size >= 11
        width = len(t.text or "") * CHAR_W * size / 12
        x, y = float(t.get("x", 0)), float(t.get("y", 0))
        left = {"start": x, "middle": x - width / 2, "end": x - width}[t.get("text-anchor", "start")]
        assert left >= 0 and left + width <= float(root.get("width", 0)) + 1, t.text
        boxes.append((left, left + width, y - size * 0.8, y + size * 0.2, t.text))
    boxes.sort(key=lambda b: b[2])
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if b[2] >= a[3]:
                break
            overlap = a[0] < b[1] and b[0] < a[1]
            assert not overlap, (a[4], b[4])


@pytest.mark.parametrize("fault", [None, "fin-without-app", "ignore-fin", "no-fin-on-close", "ack-unreceived",
                                   "drop-out-of-order", "ignore-window", "ignore-mss", "ack-every-segment"])
def test_labels_stay_legible(fault: str | None) -> None:
    for case in run(fault).cases:
        assert_legible(svg_root(case))


def test_long_labels_wrap_with_the_full_text_in_a_title() -> None:
    case = case_of(run("fin-without-app"), "seed-teardown")
    long = "S. 100:100(0) ack 1 win 65535 <mss 1460,sackOK,TS val 4242424242 ecr 0,nop,wscale 7,nop,nop,md5 " + "x" * 120
    case.segments[1].summary = long
    case.target_events[-1].detail = "a state change explained at length " * 6
    case.steps[6].mismatches.append(Mismatch("options", "<mss 512,sackOK>" * 3, "<wscale 7,nop,nop>" * 4))
    root = svg_root(case)
    titles = [t.text or "" for t in root.iter(f"{SVG_NS}title")]
    assert any(long in t for t in titles)
    assert_legible(root)


def test_empty_case_still_gives_an_svg() -> None:
    case = CaseResult("x-skip", "skipped", "f.yaml", 1, "area", "MUST", [], verdict="skip", reason="needs an agent")
    root = svg_root(case)
    assert "no segments" in joined(root)


def test_a_big_run_renders_linearly_in_its_segments() -> None:
    """How long rendering takes is a figure of ``tcpconform bench`` (reports), not asserted here."""
    base = case_of(run("fin-without-app"), "seed-teardown")
    cases = []
    for i in range(100):
        case = copy.deepcopy(base)
        case.id = f"big-{i}"
        seg = base.segments[1]
        case.segments = [SegmentRecord(seg.direction if k % 2 else "out", k * 1e-4, seg.summary, seg.wire, seg.fields,
                                       step=2, note="tolerated: ack" if k % 7 == 0 else "") for k in range(50)]
        step = case.steps[6]
        step.observed = [49]
        step.mismatches = [Mismatch("flags", ".", "F.")]
        cases.append(case)
    result = RunResult(run("fin-without-app").meta, cases)
    page = render_html(result, evaluate(result, None))
    assert page.count("<svg") == 100
    assert len(page) < 100 * 50 * 1500  # linear in segments, no blow-up


# --- in a browser ---------------------------------------------------------------------------------


@pytest.mark.skipif(chromium() is None, reason="no chromium installed (apt-get install chromium)")
def test_page_renders_offline_in_headless_chromium_and_filters(tmp_path: Path) -> None:
    result = run("fin-without-app")
    page = write_html(result, evaluate(result, None), tmp_path / "report.html")
    png = tmp_path / "report.png"
    proc = browser([f"--screenshot={png}", "--window-size=1200,3000", page.resolve().as_uri()], tmp_path / "p1")
    assert png.exists(), proc.stderr.decode(errors="replace")[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1200, 3000)
    # the filter script runs: #show=fail hides every passing case and its index row
    dom = browser(["--dump-dom", page.resolve().as_uri() + "#show=fail"], tmp_path / "p2").stdout.decode()
    sections = re.findall(r"<section [^>]*>", dom)
    verdicts = [re.search(r'data-case-verdict="(\w+)"', s) for s in sections]
    assert sections and all(("hidden" in s) == (v is not None and v.group(1) in ("pass", "skip"))
                            for s, v in zip(sections, verdicts, strict=True))


def test_the_state_event_matrix_is_shown_when_matrix_cases_ran(tmp_path: Path) -> None:
    from tcpconform.report.html import write_html

    ref = open_reference(["syn-resets"])
    result = execute(load_cases([bundled_cases()]), ref.link, ref.target, get_profile("reference"))
    page = (write_html(result, evaluate(result, None), tmp_path / "r.html")).read_text()
    assert "State x event matrix" in page and "ESTABLISHED" in page and "FAIL" in page


def test_the_page_says_which_labelled_requirements_the_run_checked_and_failed(tmp_path: Path) -> None:
    from tcpconform.cli import main

    with pytest.raises(SystemExit):
        main(["run", "-q", "seed-cumulative-ack", "options-illegal-length", "--fault", "slow-ack",
              "--report-dir", str(tmp_path)])
    page = (tmp_path / "report.html").read_text()
    table = page[page.index("RFC 9293 requirements checked"):]
    table = table[:table.index("</table>")]
    assert '<td class="nw">MUST-40</td><td>MUST</td><td class="nw t-fail">fail</td>' in table  # the ACK came late
    assert '<td class="nw">MUST-7</td><td>MUST</td><td class="nw t-pass">pass</td>' in table
    assert "1 failed</h2>" in page
