"""Refused packetdrill constructs and mistakes: each is one ``file:line[:column]: construct: why``, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpconform.cases.document import CaseFileError
from tcpconform.cases.load import load_cases

HEAD = "// t\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n"
"""Four lines: what a test appends is at line 5."""


def error(tmp_path: Path, tail: str, head: str = HEAD) -> str:
    path = tmp_path / "s.pkt"
    path.write_text(head + tail)
    with pytest.raises(CaseFileError) as info:
        load_cases([path])
    (only,) = info.value.errors
    return str(only).replace(str(tmp_path) + "/", "")


@pytest.mark.parametrize(("tail", "expected"), [
    ("%{ print(1) }%\n", "s.pkt:5:1: inline Python (%{ }%): Python snippets are not run"),
    ("`ifconfig tun0 mtu 1000`\n", "s.pkt:5:1: shell command (`...`): shell commands are not run"),
    ("+0 `ethtool -K eth0 tso off`\n", "s.pkt:5:4: shell command (`...`): shell commands are not run"),
    ("+0 < S 0:0(0) win 1 <TS val 1 ecr 0>\n+0 > S. 0:0(0) ack 1 <...>\n+0 < . 1:1(0) ack 1 win 1 <TS val 2 ecr 7>\n",
     "s.pkt:7:28: TCP option TS: ecr 7 echoes no outbound TS val before it"),
    ("+0 poll([{fd=3, events=POLLIN}], 1, 0) = 1\n", "s.pkt:5: poll(): system call not taken"),
    ("+0 > icmp unreachable port\n", "s.pkt:5:6: icmp packet: only TCP packets are taken"),
    ("+0 < [ect0] S 0:0(0) win 1\n", "s.pkt:5:6: IP header fields ([ecn], (tos ...), ...): IP-level fields"),
    ("+0 < S 0:0(0) win 1 <FO abcd>\n", "s.pkt:5:22: TCP option FO: not taken"),
    ("+0 < S 0:0(0) win 1 <...>\n", "s.pkt:5:21: TCP options <...>: an inbound packet needs definite options"),
    ("+0 < S 0:9(0) win 1\n", "s.pkt:5:10: TCP packet: END must be SEQ + LEN"),
    ("+0 < S 0:0(0) win 1 <mss 5\n", "s.pkt:5:21: TCP options: the option list is not closed"),
    ("+0 write(4, ..., 10) = 10\n", "s.pkt:5: write(): file descriptor 4 is no socket of the script"),
    ("+0 accept(3, ..., ...) = 4\n+0 write(4, ..., 10) = 5\n", "s.pkt:6: write() = 5: a short write is not taken"),
    ("+0 accept(3, ..., ...) = 4\n+0 read(4, ..., 10) = -1 EAGAIN (Resource temporarily unavailable)\n",
     "s.pkt:6: read() = -1 EAGAIN: error results are not checked"),
    ("+0 accept(3, ..., ...) = 4\n+0 shutdown(4, SHUT_RD) = 0\n", "s.pkt:6: shutdown(SHUT_RD): only SHUT_WR is taken"),
    ("+0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0\n",
     "s.pkt:5: setsockopt(SO_LINGER): socket option not taken"),
    ("0.1~+0.2 < S 0:0(0) win 1\n", "s.pkt:5:1: time range: both ends of a range"),
    ("+0.2~+0.1 < S 0:0(0) win 1\n", "s.pkt:5:1: time range: the range ends before it starts"),
    ("+1 < S 0:0(0) win 1\n0.5 > S. 0:0(0) ack 1\n", "s.pkt:6:1: time: the time 0.5 is before the previous line's"),
    ("< S 0:0(0) win 1\n", "s.pkt:5:1: time: a line starts with its time"),
    ("+0 frobnicate\n", "s.pkt:5:4: line: expected '<' or '>' and a packet, or a system call"),
    ("+0 listen(3, 1)\n", "s.pkt:5:16: listen(): a system call is followed by '= RESULT'"),
    ("--ip_version=ipv6\n", "s.pkt:5: --ip_version: option not taken (taken: --tolerance_usecs)"),
    ("// level: SOMETIMES\n", "s.pkt:5: level: expected MUST, SHOULD or MAY"),
    ("// tolerate: acks\n", "s.pkt:5: tolerate: unknown name 'acks'"),
])
def test_refused_constructs_name_line_and_construct(tmp_path: Path, tail: str, expected: str) -> None:
    assert error(tmp_path, tail).startswith(expected)


def test_udp_sockets_are_refused(tmp_path: Path) -> None:
    assert error(tmp_path, "", head="0 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3\n").startswith(
        "s.pkt:1: socket(SOCK_DGRAM): only TCP sockets are taken")


def test_an_empty_script_checks_nothing_and_says_so(tmp_path: Path) -> None:
    assert error(tmp_path, "", head="// only a comment\n") == "s.pkt:1: script: no packets and no system calls: nothing to check"


def test_a_script_that_is_not_utf8_is_refused_like_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "s.pkt"
    path.write_bytes(b"0 < S 0:0(0) win 1 \xff\n")
    with pytest.raises(CaseFileError, match="not UTF-8"):
        load_cases([path])


def test_a_script_too_long_for_a_case_is_refused_at_the_first_event_beyond(tmp_path: Path) -> None:
    message = error(tmp_path, "+0 < . 1:1(0) ack 1 win 1\n" * 1_000)
    assert message.startswith("s.pkt:1002: script: more than 1,000 packets and system calls")
