"""The packetdrill reader and its mapping onto case steps: times, packets, system calls, metadata."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpconform.cases.document import CaseFileError
from tcpconform.cases.load import load_case, load_cases
from tcpconform.cases.model import ANY, AppStep, ExpectStep, Level, OptionsSpec, SendStep, SilenceStep, WaitStep
from tcpconform.cases.packetdrill import DEFAULT_TOLERANCE
from tcpconform.cases.packetdrill.script import Packet, Syscall, read_script
from tcpconform.tcp.segment import Flags

SCRIPTS = Path(__file__).resolve().parents[2] / "testcases-pkt"
LISTEN = """\
0   socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0  bind(3, ..., ...) = 0
+0  listen(3, 1) = 0
"""


def write(tmp_path: Path, text: str, name: str = "x.pkt") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_times_absolute_relative_any_and_ranges() -> None:
    script = read_script("0.1 < S 0:0(0) win 5000\n+0.2 > S. 0:0(0) ack 1\n* > . 1:1(0) ack 1\n0.5~0.7 < . 1:1(0) ack 1\n"
                         "+0.1~+0.3 > . 1:1(0) ack 1\n")
    times = [(e.timing.lo, e.timing.hi, e.timing.any) for e in script.events]
    assert times == [(0.1, 0.1, False), (pytest.approx(0.3), pytest.approx(0.3), False), (pytest.approx(0.3),
                     pytest.approx(0.3), True), (0.5, 0.7, False), (pytest.approx(0.8), pytest.approx(1.0), False)]
    assert [isinstance(e, Packet) and e.inbound for e in script.events] == [True, False, False, True, False]


def test_comments_are_blanked_in_place_and_kept() -> None:
    script = read_script("// first\n/* a\n b */ 0 < S 0:0(0) win 1 // tail\n")
    assert [text for _, text in script.comments] == ["first", "a", "b", "tail"]
    (packet,) = script.events
    assert isinstance(packet, Packet) and packet.line == 3 and packet.body == "S 0:0(0) win 1"
    assert packet.column == 11  # the column of the file, comments blanked not removed


def test_system_calls_split_their_arguments_outside_brackets() -> None:
    (call,) = read_script("0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0\n").events
    assert isinstance(call, Syscall) and call.args == ("3", "SOL_SOCKET", "SO_LINGER", "{onoff=1, linger=0}", "8")
    (call,) = read_script("0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n").events
    assert isinstance(call, Syscall) and call.result == "-1 EINPROGRESS (Operation now in progress)"


def test_a_script_becomes_one_case_with_one_requirement(tmp_path: Path) -> None:
    case = load_case(write(tmp_path, "// Handshake, passively\n// level: SHOULD\n// ref: RFC 9293 3.5\n" + LISTEN +
                           "+0 < S 0:0(0) win 4000 <mss 1000>\n+0 > S. 0:0(0) ack 1 <...>\n", "My Script.pkt"))
    assert case.id == "pkt-my-script" and case.title == "Handshake, passively"
    assert case.level is Level.SHOULD and [(r.id, r.ref, r.level) for r in case.requirements] == [
        ("script", "RFC 9293 3.5", Level.SHOULD)]
    assert case.numbering.tester == 0 and case.numbering.target == 0 and not case.numbering.absolute
    assert case.tester_window == 4000 and case.tester_mss == 1000 and "packetdrill" in case.tags
    listen, send, expect = case.steps
    assert isinstance(listen, AppStep) and listen.action == "listen"
    assert isinstance(send, SendStep) and send.segment.flags == Flags.SYN
    assert isinstance(expect, ExpectStep) and expect.segment.options is ANY and expect.tolerate == frozenset()
    assert expect.within == pytest.approx(DEFAULT_TOLERANCE)


def test_inbound_gaps_are_waits_and_late_outbound_packets_get_a_silence_first(tmp_path: Path) -> None:
    case = load_case(write(tmp_path, LISTEN + "+0.5 < S 0:0(0) win 4000\n+2~+3 > S. 0:0(0) ack 1\n"))
    _, wait, _, silence, expect = case.steps
    assert isinstance(wait, WaitStep) and wait.duration == pytest.approx(0.5)
    assert isinstance(silence, SilenceStep) and silence.duration == pytest.approx(2 - DEFAULT_TOLERANCE)
    assert isinstance(expect, ExpectStep) and expect.within == pytest.approx(1 + 2 * DEFAULT_TOLERANCE)


def test_a_shell_command_setting_packetdrills_tun_is_skipped(tmp_path: Path) -> None:
    """``ethtool -K tun0 tso off gso off`` makes packetdrill see segments as a wire carries them; here
    there is no tun (the lab's veth has its offloads off), so the line is no step and keeps its time."""
    case = load_case(write(tmp_path, "0 `ethtool -K tun0 tso off gso off`\n+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                                     "+0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n+0 < S 0:0(0) win 1\n"))
    assert [type(s).__name__ for s in case.steps] == ["AppStep", "SendStep"]


def test_tolerance_usecs_widens_the_default_only(tmp_path: Path) -> None:
    wide = load_case(write(tmp_path, "--tolerance_usecs=900000\n" + LISTEN + "+0 < S 0:0(0) win 1\n+0 > S. 0:0(0) ack 1\n"))
    narrow = load_case(write(tmp_path, "--tolerance_usecs=4000\n" + LISTEN + "+0 < S 0:0(0) win 1\n+0 > S. 0:0(0) ack 1\n",
                             "y.pkt"))
    assert isinstance(wide.steps[-1], ExpectStep) and wide.steps[-1].within == pytest.approx(0.9)
    assert isinstance(narrow.steps[-1], ExpectStep) and narrow.steps[-1].within == pytest.approx(DEFAULT_TOLERANCE)


def test_outbound_timestamps_are_not_checked_but_their_place_is(tmp_path: Path) -> None:
    """As packetdrill: an outbound TS val is remembered (captured), not compared, and its ecr not
    checked; an inbound ACK's ecr naming it sends the live value."""
    case = load_case(write(tmp_path, LISTEN + "+0 < S 0:0(0) win 1 <TS val 5 ecr 0>\n"
                                             "+0 > S. 0:0(0) ack 1 <nop,nop,TS val 9 ecr 5>\n"
                                             "+0 < . 1:1(0) ack 1 win 1 <nop,nop,TS val 6 ecr 9>\n"
                                             "+0 > . 1:1(0) ack 1 <nop,nop,TS val 9 ecr 6>\n"))
    sent, expect, ack, again = case.steps[1], case.steps[2], case.steps[3], case.steps[4]
    assert isinstance(sent, SendStep) and isinstance(sent.segment.options, OptionsSpec)
    assert sent.segment.options.items[0].value == (5, 0)
    assert isinstance(expect, ExpectStep) and isinstance(expect.segment.options, OptionsSpec)
    assert [o.kind for o in expect.segment.options.items] == ["NOP", "NOP", "Timestamp"]
    assert str(expect.segment.options.items[2].value[0]) == "?pkt_tsval_9" and expect.segment.options.items[2].value[1] == ANY
    assert isinstance(ack, SendStep) and isinstance(ack.segment.options, OptionsSpec)
    assert str(ack.segment.options.items[2].value[1]) == "$pkt_tsval_9"
    assert isinstance(again, ExpectStep) and isinstance(again.segment.options, OptionsSpec)
    assert again.segment.options.items[2].value == (ANY, ANY)  # a TS val already remembered: neither checked


def test_an_inbound_echo_of_no_outbound_ts_val_is_refused_as_packetdrill_does(tmp_path: Path) -> None:
    path = write(tmp_path, LISTEN + "+0 < S 0:0(0) win 1 <TS val 5 ecr 0>\n+0 > S. 0:0(0) ack 1 <...>\n"
                                    "+0 < . 1:1(0) ack 1 win 1 <nop,nop,TS val 6 ecr 9>\n")
    with pytest.raises(CaseFileError, match=r"ecr 9 echoes no outbound TS val before it"):
        load_case(path)


def test_an_ack_of_the_first_of_two_segments_sent_back_to_back_may_come_before_the_second_leaves(tmp_path: Path) -> None:
    """packetdrill judges an outbound packet by its time: the early slack is the script's own
    tolerance (4 ms by default), not the widened one, so an answer far ahead of its time still fails."""
    case = load_case(write(tmp_path, LISTEN + "+0 < S 0:0(0) win 1\n+0 > S. 0:0(0) ack 1\n"))
    wide = load_case(write(tmp_path, "--tolerance_usecs=20000\n" + LISTEN + "+0 < S 0:0(0) win 1\n+0 > S. 0:0(0) ack 1\n",
                           "w.pkt"))
    assert isinstance(case.steps[-1], ExpectStep) and case.steps[-1].early == pytest.approx(0.004)
    assert isinstance(wide.steps[-1], ExpectStep) and wide.steps[-1].early == pytest.approx(0.02)


def test_empty_options_expect_none_and_left_out_options_are_not_checked(tmp_path: Path) -> None:
    case = load_case(write(tmp_path, LISTEN + "+0 < S 0:0(0) win 1 <mss 512>\n+0 > S. 0:0(0) ack 1 <>\n"
                                             "+0.01 < . 1:1(0) ack 1 win 1\n+0 > . 1:1(0) ack 1\n"))
    none, unchecked = case.steps[2], case.steps[-1]
    assert isinstance(none, ExpectStep) and isinstance(none.segment.options, OptionsSpec)
    assert none.segment.options.items == ()
    assert isinstance(unchecked, ExpectStep) and not isinstance(unchecked.segment.options, OptionsSpec)


def test_a_script_that_neither_listens_nor_connects_runs_on_a_closed_port(tmp_path: Path) -> None:
    syn = "0 < S 0:0(0) win 1\n+0 > R. 0:0(0) ack 1\n"
    assert load_case(write(tmp_path, syn, "closed.pkt")).closed_port
    assert not load_case(write(tmp_path, LISTEN + syn.replace("0 <", "+0 <", 1), "open.pkt")).closed_port


def test_system_calls_map_onto_application_steps(tmp_path: Path) -> None:
    case = load_case(write(tmp_path, LISTEN + "+0 accept(3, ..., ...) = 4\n+0 fcntl(4, F_SETFL, O_NONBLOCK) = 0\n"
                           "+0 setsockopt(4, IPPROTO_TCP, TCP_NODELAY, [1], 4) = 0\n+0 write(4, ..., 10) = 10\n"
                           "+0 send(4, ..., 5, 0) = 5\n+0 read(4, ..., 100) = 7\n+0 recv(4, ..., 9, 0) = 0\n"
                           "+0 shutdown(4, SHUT_WR) = 0\n+0 close(4) = 0\n+0 close(3) = 0\n"
                           "+0 getsockopt(4, SOL_SOCKET, SO_RCVBUF, [1000], [4]) = 0\n"))
    got = [(s.action, s.count, s.sockopt.name if s.sockopt else None) for s in case.steps if isinstance(s, AppStep)]
    assert got == [("listen", None, None), ("setsockopt", None, "TCP_NODELAY"), ("write", 10, None), ("write", 5, None),
                   ("read", 7, None), ("read-eof", None, None), ("shutdown", None, None), ("close", None, None),
                   ("unlisten", None, None), ("getsockopt", None, "SO_RCVBUF")]


def test_a_tolerate_line_lets_the_named_segments_pass(tmp_path: Path) -> None:
    text = "// tolerate: ack, window-update\n" + LISTEN + "+0 < S 0:0(0) win 1\n+0 > S. 0:0(0) ack 1\n"
    case = load_case(write(tmp_path, text))
    assert isinstance(case.steps[-1], ExpectStep) and case.steps[-1].tolerate == {"ack", "window-update"}


def test_folders_load_pkt_and_yaml_together(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text((SCRIPTS.parent / "testcases" / "seed" / "01-handshake.yaml").read_text())
    write(tmp_path, LISTEN + "+0 < S 0:0(0) win 1\n+0 > S. 0:0(0) ack 1\n", "b.pkt")
    assert [c.id for c in load_cases([tmp_path])] == ["seed-handshake", "pkt-b"]


def test_the_bundled_scripts_all_load() -> None:
    cases = load_cases([SCRIPTS])
    assert len(cases) >= 13 and all(c.id.startswith("pkt-") for c in cases)
    assert "pkt-seed" in {c.id for c in cases}
