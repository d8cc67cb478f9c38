"""What a link saw of a segment travels beside it: the frame and its checksum in ``Received``, the
frame sent in ``Sent``; a segment is only the segment."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
from support.fakepeer import FakePeer, NoControl, reply

from tcpconform.cases.load import load_case
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.run import execute
from tcpconform.links.base import Link, Received, Sent
from tcpconform.links.inprocess import InProcessLink
from tcpconform.responder.checks import malformed
from tcpconform.tcp.segment import Flags, Segment
from tcpconform.wire import encode
from tcpconform.wire.tcp import tcp_checksum

SYN = Segment("192.0.2.1", "192.0.2.2", 40000, 8000, seq=0, flags=Flags.SYN, window=5000)


def test_a_segment_is_frozen_and_carries_nothing_beside_its_fields() -> None:
    assert "meta" not in {f.name for f in dataclasses.fields(Segment)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        SYN.seq = 1  # type: ignore[misc]
    assert not hasattr(SYN, "__dict__")


def test_a_deliberately_bad_checksum_is_a_field_of_the_segment() -> None:
    bad = SYN.with_(chksum="bad")
    assert bad != SYN
    assert encode(bad)[50:52] != tcp_checksum(SYN).to_bytes(2, "big")
    assert malformed(bad) == "bad checksum (deliberately wrong)"


def test_the_in_process_link_judges_a_peer_s_checksum_as_a_wire_would() -> None:
    def policy(seg: Segment, now: float) -> list[tuple[float, Segment]]:
        good = reply(seg, seq=1, ack=seg.seq + 1)
        return [(0.0, good.with_(chksum=tcp_checksum(good))), (0.0, good.with_(chksum=tcp_checksum(good) ^ 1))]

    link = InProcessLink(FakePeer(policy, isn=0))
    assert isinstance(link, Link) and link.clock == "virtual" and link.dropped() is None
    assert link.send(SYN) == Sent(pytest.approx(1e-6))
    link.send(SYN.with_(flags=Flags.ACK, seq=1, ack=1))
    got = [link.receive(1.0) for _ in range(3)]
    assert [(g.frame, g.checksum) for g in got if g is not None] == [(None, "ok"), (None, "ok"), (None, "wrong")]


class _FramingLink:
    """An in-process link that says which frames it sent and received, as a wire link does."""

    name, clock, local_ip = "framing", "virtual", "192.0.2.1"

    def __init__(self, inner: InProcessLink) -> None:
        self.inner = inner

    def now(self) -> float:
        return self.inner.now()

    def send(self, segment: Segment) -> Sent:
        return Sent(self.inner.send(segment).at, b"out:" + encode(segment))

    def receive(self, timeout: float) -> Received | None:
        got = self.inner.receive(timeout)
        return None if got is None else got._replace(frame=b"in:" + encode(got.segment))

    def dropped(self) -> int | None:
        return 0

    def close(self) -> None:
        pass


def test_the_engine_records_the_frames_the_link_saw(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent("""\
        id: c
        title: t
        requirements: [{id: r, ref: RFC 9293 3.5, level: MUST}]
        no_fault: unit test
        steps:
          - send: "S 0:0(0) win 5000"
          - expect: "S. 0:0(0) ack 1"
    """))
    result = execute([load_case(path)], _FramingLink(InProcessLink(FakePeer(lambda s, n: [], isn=0))), NoControl(),
                     get_profile("generic"))
    case = result.cases[0]
    assert case.verdict == "pass", case.reason
    assert [rec.direction for rec in case.segments] == ["out", "in", "out", "out"]  # the last: the cleanup RSTs
    for rec in case.segments:
        assert rec.frame == {"out": b"out:", "in": b"in:"}[rec.direction] + encode(rec.segment)
    assert result.meta.frames_dropped == 0
