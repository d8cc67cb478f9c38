"""Properties of the urgent pointer the responder sends (RFC 9293 3.8.5, MUST-62): whatever the
ordinary data before it and the urgent data's length, every segment that starts before SND.UP
carries URG and a pointer to exactly SND.UP (the octet just after the urgent data), and no later
one carries URG."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from support.responder import F, agent_established

from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags


@given(before=st.integers(0, 1500), urgent=st.integers(1, 2500), after=st.integers(0, 600))
def test_every_segment_before_the_pointer_points_at_its_end(before: int, urgent: int, after: int) -> None:
    p = agent_established(window=60000)
    if before:
        p.r.app_write(p.key, bytes(before), p.now)
    p.r.app_write(p.key, bytes(urgent), p.now, urgent=True)
    if after:
        p.r.app_write(p.key, bytes(after), p.now)
    sent = p.drain()
    for _ in range(20):  # acknowledge what came until everything is out
        data = [s for s in sent if s.payload]
        if not data:
            break
        p.send(p.segment(F.ACK, ack=seqnum.add(data[-1].seq, len(data[-1].payload))))
        sent = p.drain() + [s for _, s in p.run_timers_until(p.now + 0.3)]
    up = seqnum.add(101, before + urgent)
    data = [s for s in p.sent if s.payload]  # everything the responder emitted
    assert max(seqnum.diff(seqnum.add(s.seq, len(s.payload)), 101) for s in data) == before + urgent + after
    for seg in data:
        if seqnum.lt(seg.seq, up):
            assert seg.flags & Flags.URG and seqnum.add(seg.seq, seg.urgptr) == up
        else:
            assert not seg.flags & Flags.URG
