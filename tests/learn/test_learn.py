"""``tcpconform learn`` on the in-process reference responder: the same machine run after run, a state
fault's difference found, and the case written from it failing under that fault while passing clean."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.browser import browser, chromium

from tcpconform.cases.load import load_case
from tcpconform.cases.profiles import get_profile
from tcpconform.cli import main
from tcpconform.engine.run import execute
from tcpconform.learn.export import case_text
from tcpconform.learn.machine import Machine, NonDeterministic, difference, differences, learn, learn_reference
from tcpconform.learn.mapper import APP_INPUTS, INPUTS, QUIET, REFUSED, TESTER_ISN, Mapper
from tcpconform.learn.report import MARK
from tcpconform.learn.sul import LinkSUL
from tcpconform.links.base import Link, Received
from tcpconform.targets.base import Target
from tcpconform.targets.reference import open_reference
from tcpconform.tcp.segment import Flags, FourTuple, Segment

STATE_FAULTS = ("ignore-fin", "answer-rst-with-rst", "ignore-rst", "dup-syn-ack-only")
"""Faults of the reference responder that change how it answers the learner's letters."""
APP_FAULTS = ("no-fin-on-close", "fin-despite-unread")
"""Faults that change how it answers the application's letters alone."""
WITH_APP = (*INPUTS, *APP_INPUTS)


def _machine(*faults: str, inputs: tuple[str, ...] = tuple(INPUTS)) -> Machine:
    ref = open_reference(faults, isn=5000)
    return learn(ref.link, ref.target, quiet=0.3, inputs=inputs).machine


@pytest.fixture(scope="module")
def clean() -> Machine:
    return _machine()


def _verdict(path: Path, *faults: str) -> str:
    ref = open_reference(faults)
    return execute([load_case(path)], ref.link, ref.target, get_profile("reference")).cases[0].verdict


def test_the_mapper_numbers_a_handshake_as_a_peer_would() -> None:
    mapper = Mapper(FourTuple("192.0.2.1", 20001, "192.0.2.2", 8000))
    syn = mapper.concrete("SYN")
    assert (syn.seq, syn.flags, mapper.snd_nxt) == (TESTER_ISN, Flags.SYN, TESTER_ISN + 1)
    answer = Segment("192.0.2.2", "192.0.2.1", 8000, 20001, seq=77, ack=TESTER_ISN + 1, flags=Flags.SYN | Flags.ACK)
    assert mapper.abstract([answer]) == "SA(ack)" and mapper.rcv_nxt == 78
    data = mapper.concrete("ACK+DATA")
    assert (data.seq, data.ack, len(data.payload), mapper.snd_nxt) == (TESTER_ISN + 1, 78, 10, TESTER_ISN + 11)
    assert mapper.abstract([]) == QUIET
    stale = Segment("192.0.2.2", "192.0.2.1", 8000, 20001, seq=78, ack=TESTER_ISN + 1, flags=Flags.ACK)
    assert mapper.abstract([stale]) == "A(ack?)"  # it acknowledges less than the tester sent


def test_the_clean_reference_gives_the_same_machine_run_after_run(clean: Machine) -> None:
    again = _machine()
    assert again.to_dot() == clean.to_dot()
    assert difference(clean, again) is None
    assert clean.run(["SYN", "ACK", "FIN+ACK"]) == ["SA(ack)", QUIET, "A(ack)"]  # the passive open, then CLOSE-WAIT


@pytest.mark.parametrize("fault", STATE_FAULTS)
def test_a_state_fault_is_a_difference_whose_case_fails_under_it_and_passes_clean(clean: Machine, fault: str,
                                                                                    tmp_path: Path) -> None:
    faulty = _machine(fault)
    letters = difference(clean, faulty)
    assert letters is not None, fault
    assert clean.run(letters)[-1] != faulty.run(letters)[-1]
    ref = open_reference((), isn=5000)
    path = tmp_path / f"learned-{fault}.yaml"
    path.write_text(case_text(f"learned-{fault}", letters, ref.link, ref.target, 0.3, f"the reference with {fault}"))
    assert _verdict(path) == "pass"
    assert _verdict(path, fault) == "fail"
    others = [f for f in STATE_FAULTS if f != fault]
    assert [f for f in others if _verdict(path, f) == "fail"] == [], "the case tells this fault alone apart"


@pytest.fixture(scope="module")
def clean_app() -> Machine:
    return _machine(inputs=WITH_APP)


def test_the_application_calls_only_on_a_connection_it_holds(clean_app: Machine) -> None:
    assert clean_app.run(["WRITE", "SYN", "CLOSE"]) == [REFUSED, "SA(ack)", REFUSED]  # before the handshake: no call
    assert clean_app.run(["SYN", "ACK", "WRITE", "WRITE"]) == ["SA(ack)", QUIET, "PA(data)(ack)", "PA(data)(ack)"]
    # its close: a FIN (acknowledged by the tester at once), and after it nothing to call on
    assert clean_app.run(["SYN", "ACK", "CLOSE", "CLOSE", "WRITE"]) == ["SA(ack)", QUIET, "FA(ack)", REFUSED, REFUSED]
    # data it never read: a RST instead (RFC 9293 3.6.1, SHLD-3); in CLOSE-WAIT the FIN, then CLOSED
    assert clean_app.run(["SYN", "ACK+DATA", "CLOSE"])[-1] == "RA(ack)"
    assert clean_app.run(["SYN", "FIN+ACK", "CLOSE", "ACK"])[2:] == ["FA(ack)", "R"]
    assert _machine(inputs=WITH_APP).to_dot() == clean_app.to_dot()  # run after run


def test_a_call_it_cannot_make_is_never_asked_of_the_target() -> None:
    class NoCalls:
        def __init__(self, inner: object) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> object:
            assert not name.startswith("app_") or name == "app_listen", f"{name} asked with no connection"
            return getattr(self.inner, name)

    ref = open_reference((), isn=5000)
    sul = LinkSUL(ref.link, NoCalls(ref.target), 0.3)  # type: ignore[arg-type]
    sul.pre()
    assert [sul.step(letter) for letter in ("WRITE", "SYN", "CLOSE", "SYN+ACK", "WRITE")] == [
        REFUSED, "SA(ack)", REFUSED, "A(ack)", REFUSED]  # its SYN+ACK in SYN-RECEIVED acknowledges nothing new
    sul.post()


@pytest.mark.parametrize("fault", APP_FAULTS)
def test_an_application_fault_is_a_difference_on_an_application_letter(clean_app: Machine, fault: str,
                                                                          tmp_path: Path) -> None:
    letters = difference(clean_app, _machine(fault, inputs=WITH_APP))
    assert letters is not None and letters[-1] == "CLOSE", letters
    ref = open_reference((), isn=5000)
    path = tmp_path / f"learned-{fault}.yaml"
    path.write_text(case_text(f"learned-{fault}", letters, ref.link, ref.target, 0.3, f"the reference with {fault}"))
    assert "  - app: close    # CLOSE" in path.read_text()
    assert _verdict(path) == "pass"
    assert _verdict(path, fault) == "fail"
    assert [f for f in (*APP_FAULTS, *STATE_FAULTS) if f != fault and _verdict(path, f) == "fail"] == []


def test_differences_are_shortest_first_and_distinct(clean: Machine) -> None:
    faulty = _machine("ignore-fin")
    found = differences(clean, faulty, 3)
    assert found[0] == ["SYN", "FIN+ACK"] and len({tuple(f) for f in found}) == 3
    assert [len(f) for f in found] == sorted(len(f) for f in found)


def test_the_command_writes_the_machines_and_a_case_per_difference(tmp_path: Path) -> None:
    runner = CliRunner()
    same = runner.invoke(main, ["learn", "--out", str(tmp_path / "same")])
    assert same.exit_code == 0, same.output
    assert "the same machine as the reference responder's" in same.output
    assert (tmp_path / "same" / "machine.dot").read_text() == (tmp_path / "same" / "reference.dot").read_text().replace(
        '"reference"', '"target"')
    assert _junit(tmp_path / "same") == {"the machine of the reference responder": None}
    assert "The same machine as the reference responder" in (tmp_path / "same" / "report.html").read_text()
    differ = runner.invoke(main, ["learn", "--fault", "ignore-fin", "--out", str(tmp_path / "differ")])
    assert differ.exit_code == 1, differ.output
    assert "difference 1: SYN FIN+ACK: reference A(ack), target quiet" in differ.output
    assert _verdict(tmp_path / "differ" / "difference-1.yaml", "ignore-fin") == "fail"
    tests = _junit(tmp_path / "differ")
    assert tests["the machine of the reference responder with ignore-fin"] == "5 difference(s) from the reference responder"
    assert tests["difference 1: SYN FIN+ACK"] == "reference A(ack), target quiet"
    assert len(tests) == 6
    page = (tmp_path / "differ" / "report.html").read_text()
    assert page.count("<svg") == 2 and 'href="difference-1.yaml"' in page
    assert page.count(f'stroke="{MARK}"') >= 2  # the transition a difference ends on, on both drawings
    unknown = runner.invoke(main, ["learn", "--fault", "nope", "--out", str(tmp_path / "x")])
    assert unknown.exit_code == 2 and "unknown fault 'nope'" in unknown.output and "Traceback" not in unknown.output


def _junit(folder: Path) -> dict[str, str | None]:
    """junit.xml's tests by name, each with its failure's message (None: passed)."""
    root = ET.parse(folder / "junit.xml").getroot()
    out: dict[str, str | None] = {}
    for case in root.iter("testcase"):
        failure = case.find("failure")
        out[case.get("name", "")] = None if failure is None else failure.get("message")
    return out


@pytest.mark.skipif(chromium() is None or shutil.which("dot") is None, reason="needs chromium and graphviz's dot")
def test_the_report_draws_both_machines_in_a_browser(tmp_path: Path) -> None:
    done = CliRunner().invoke(main, ["learn", "--fault", "dup-syn-ack-only", "--out", str(tmp_path)])
    assert done.exit_code == 1, done.output
    dom = browser(["--dump-dom", (tmp_path / "report.html").resolve().as_uri()], tmp_path / "profile").stdout.decode()
    target, reference = dom.split('<figure id="reference">')
    states = int(re.search(r"target: (\d+) states", dom).group(1))  # type: ignore[union-attr]
    assert target.count('class="node"') == states + 1  # each state, and the start arrow's tail
    assert reference.count('class="node"') == 19 + 1
    assert re.search(r'<g id="edge\d+" class="edge">.*?stroke="' + MARK, target, re.S)  # a marked transition


class _Lossy:
    """A link that loses everything the target sends to an even source port of the tester's: a path
    that loses one query's answers and not the next's."""

    def __init__(self, inner: Link) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def receive(self, timeout: float) -> Received | None:
        got = self.inner.receive(timeout)
        while got is not None and got.segment.dport % 2 == 0:
            got = self.inner.receive(timeout)
        return got


def test_a_query_asked_again_and_answered_otherwise_is_named() -> None:
    ref = open_reference((), isn=5000)
    # the first query AALpy asks, asked twice: once on an odd port (answered), once on an even one (lost)
    with pytest.raises(NonDeterministic, match=r"^[A-Z+ ]+: answered [^;]+ \(1 of 2\); [^;]+ \(1 of 2\)$"):
        learn(_Lossy(ref.link), ref.target, quiet=0.3, repeat=2, inputs=("SYN", "ACK"))  # type: ignore[arg-type]


def test_lab_and_target_together_are_refused(tmp_path: Path) -> None:
    done = CliRunner().invoke(main, ["learn", "--lab", "linux", "--target", "198.18.0.2", "--out", str(tmp_path)])
    assert done.exit_code == 2 and "--lab or --target, not both" in done.output and "Traceback" not in done.output


def test_a_bare_ack_before_data_acknowledging_as_much_is_the_data_alone() -> None:
    mapper = Mapper(FourTuple("192.0.2.1", 20001, "192.0.2.2", 7))
    mapper.concrete("SYN")
    mapper.abstract([Segment("192.0.2.2", "192.0.2.1", 7, 20001, seq=5, ack=TESTER_ISN + 1, flags=Flags.SYN | Flags.ACK)])
    mapper.concrete("ACK+DATA")
    ack = Segment("192.0.2.2", "192.0.2.1", 7, 20001, seq=6, ack=TESTER_ISN + 11, flags=Flags.ACK)
    echo = Segment("192.0.2.2", "192.0.2.1", 7, 20001, seq=6, ack=TESTER_ISN + 11, flags=Flags.PSH | Flags.ACK,
                   payload=b"0123456789")
    assert mapper.abstract([ack, echo]) == "PA(data)(ack)"


def test_a_difference_the_reference_does_not_show_is_learnt_away() -> None:
    # a random oracle may stop short: with one walk a state the reference's machine has fewer states
    # than with a hundred, so the two "differ" though they are one responder's
    def fresh() -> tuple[Link, Target]:
        ref = open_reference((), isn=5000)
        return ref.link, ref.target

    link, target = fresh()
    whole = learn(link, target, quiet=0.3, inputs=WITH_APP, walks_per_state=100).machine
    link, target = fresh()
    short = learn(link, target, quiet=0.3, inputs=WITH_APP, walks_per_state=1).machine
    assert differences(short, whole, 5) != []
    base, found = learn_reference(fresh, whole, 5, quiet=0.3, walks_per_state=1, inputs=WITH_APP)
    assert found == [] and difference(base.machine, whole) is None


def test_a_case_with_letters_that_made_no_call_passes_on_the_reference(tmp_path: Path) -> None:
    # no call, no time: four refused writes in SYN-RECEIVED take nothing off the SYN-ACK's 1 s timer
    letters = ["SYN", "WRITE", "WRITE", "WRITE", "WRITE", "ACK", "WRITE"]
    ref = open_reference((), isn=5000)
    path = tmp_path / "refused.yaml"
    path.write_text(case_text("learned-refused", letters, ref.link, ref.target, 0.3, "a test"))
    assert path.read_text().count("holds no connection to call on") == 4
    assert _verdict(path) == "pass"


@pytest.mark.parametrize("letters", [["ACK+DATA", "SYN", "ACK"], ["SYN", "RST", "SYN", "ACK", "WRITE"]])
def test_a_case_that_acknowledges_before_any_syn_or_opens_anew_passes_on_the_reference(letters: list[str],
                                                                                     tmp_path: Path) -> None:
    # an ACK before the target's SYN acknowledges 0 on the wire; a second connection has an ISN, and a
    # stream of data, of its own: both were a case error or a false failure when numbered from the first
    ref = open_reference((), isn=5000)
    path = tmp_path / "case.yaml"
    path.write_text(case_text("learned-x", letters, ref.link, ref.target, 0.3, "a test"))
    assert _verdict(path) == "pass", path.read_text()
