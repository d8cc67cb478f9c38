"""A checksum the kernel says was never computed is neither right nor wrong: the ``checksum``
invariant fails only on one verified wrong, an unverifiable one is counted (per case, per run, in
results.json, on the console once), and a case that is only about the checksum is skipped, never
passed, when it could not verify them."""

from __future__ import annotations

from collections.abc import Callable

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_cases
from tcpconform.cases.model import Numbering, TestCase
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.connection import TesterConnection as Conn
from tcpconform.engine.matching import check_invariants
from tcpconform.engine.run import execute
from tcpconform.links.base import Link, Received, Sent
from tcpconform.report.console import checksum_warning
from tcpconform.results import RunResult, SessionMeta
from tcpconform.targets.reference import open_reference
from tcpconform.tcp.segment import Flags, FourTuple, Segment


def _cases(*ids: str) -> list[TestCase]:
    by_id = {c.id: c for c in load_cases([bundled_cases()])}
    return [by_id[i] for i in ids]


class _OffloadingLink:
    """The in-process link, as a veth shows a sender's offloaded checksums: every segment ``which``
    picks arrives unverifiable (the kernel's ``TP_STATUS_CSUMNOTREADY``)."""

    name, clock = "offloading", "virtual"

    def __init__(self, inner: Link, which: Callable[[Segment], bool] = lambda seg: True) -> None:
        self.inner, self.which, self.local_ip = inner, which, inner.local_ip

    def now(self) -> float:
        return self.inner.now()

    def send(self, segment: Segment) -> Sent:
        return self.inner.send(segment)

    def receive(self, timeout: float) -> Received | None:
        got = self.inner.receive(timeout)
        if got is None or not self.which(got.segment):
            return got
        return got._replace(checksum="unverifiable")

    def dropped(self) -> int | None:
        return None

    def close(self) -> None:
        self.inner.close()


def _run(ids: tuple[str, ...], faults: tuple[str, ...] = (), which: Callable[[Segment], bool] | None = None,
         session: SessionMeta | None = None) -> RunResult:
    ref = open_reference(faults)
    link: Link = ref.link if which is None else _OffloadingLink(ref.link, which)
    return execute(_cases(*ids), link, ref.target, get_profile("reference"), session=session)


def test_the_invariant_fails_on_a_wrong_checksum_only() -> None:
    key = FourTuple("192.0.2.1", 40000, "192.0.2.2", 8000)
    conn = Conn(key, Numbering(), 0, {}, mss_offered=1460)
    seg = Segment(key.dst, key.src, key.dport, key.sport, seq=5, ack=1, flags=Flags.ACK, window=100, chksum=0x1234)
    assert check_invariants(seg, conn, frozenset({"checksum"}), "ok") == []
    assert check_invariants(seg, conn, frozenset({"checksum"}), "unverifiable") == []
    broken = check_invariants(seg, conn, frozenset({"checksum"}), "wrong")
    assert [name for name, _ in broken] == ["checksum"] and broken[0][1].actual == "0x1234"


def test_unverifiable_checksums_are_counted_not_failed() -> None:
    result = _run(("seed-handshake", "header-bad-checksum"), which=lambda seg: True)
    assert [c.verdict for c in result.cases] == ["pass", "pass"]
    counts = [c.unverified_checksums for c in result.cases]
    assert all(counts) and result.meta.unverified_checksums == sum(counts)
    data = result.to_dict()
    assert data["run"]["unverified_checksums"] == sum(counts)
    assert [c["unverified_checksums"] for c in data["cases"]] == counts


def test_a_wrong_checksum_still_fails_among_unverifiable_ones() -> None:
    """The responder's odd-checksum fault puts a wrong checksum in the segment itself; only the
    segments without data come unverifiable here, so the data segments are still judged."""
    result = _run(("header-checksum-generated",), ("odd-checksum",), which=lambda seg: not seg.payload)
    case = result.cases[0]
    assert case.verdict == "fail" and case.unverified_checksums > 0
    assert case.failed_step is not None and case.failed_step.requirement is not None
    assert case.failed_step.requirement.id == "checksum"


def test_a_checksum_case_is_skipped_when_none_could_be_verified() -> None:
    for faults in ((), ("odd-checksum",)):  # right or wrong: unverifiable either way, so never a verdict
        case = _run(("header-checksum-generated",), faults, which=lambda seg: True).cases[0]
        assert case.verdict == "skip", case.reason
        assert case.unverified_checksums == 4
        assert "could not be verified" in case.reason and "4 of the 4" in case.reason and "tx off" in case.reason


def test_a_checksum_case_is_not_passed_when_some_could_not_be_verified() -> None:
    case = _run(("header-checksum-generated",), which=lambda seg: len(seg.payload) % 2 == 1).cases[0]
    assert case.verdict == "skip" and "2 of the 4" in case.reason


def test_all_verified_is_a_pass_as_before() -> None:
    result = _run(("header-checksum-generated", "seed-handshake"))
    assert [c.verdict for c in result.cases] == ["pass", "pass"]
    assert result.meta.unverified_checksums == 0 and checksum_warning(result) is None
    assert result.to_dict()["run"]["unverified_checksums"] == 0


def test_the_console_says_it_once_with_why_and_what_to_change() -> None:
    result = _run(("seed-handshake", "header-checksum-generated"), which=lambda seg: True,
                  session=SessionMeta("lab (linux)", interface="tcpc9-t in tcpc9-tester"))
    line = checksum_warning(result)
    assert line is not None and "\n" not in line
    assert line.startswith(f"{result.meta.unverified_checksums} segment(s) from the target")
    assert "never computed" in line and "transmit checksum offload" in line
    assert "the peer of tcpc9-t" in line and "'ethtool -K <that interface> tx off'" in line
