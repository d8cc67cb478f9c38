"""Sequence numbers that wrap past 2^32 on both sides behave exactly like ones that do not."""

from __future__ import annotations

import pytest
from support.responder import F, Peer, agent_config

from tcpconform.responder import Responder, ResponderConfig
from tcpconform.tcp import seqnum
from tcpconform.tcp.payload import TARGET_SALT, TESTER_SALT, stream_bytes
from tcpconform.tcp.segment import Segment
from tcpconform.tcp.states import State

MOD = 1 << 32


def relative(segs: list[Segment], iss: int, irs: int) -> list[tuple[str, int, int, int]]:
    out = []
    for s in segs:
        ack = (s.ack - irs) % MOD if s.flags & F.ACK else 0
        out.append((s.flags.tcpdump(), (s.seq - iss) % MOD, ack, len(s.payload)))
    return out


def seed_exchange(iss: int, irs: int) -> tuple[list[tuple[str, int, int, int]], list[State]]:
    """The seed exchange with the responder's ISN ``iss`` and the peer's ``irs``; relative numbers."""
    r = Responder(ResponderConfig(isn=iss))
    p = Peer(r)

    def seg(flags: F, rel_seq: int, rel_ack: int, payload: bytes = b"") -> Segment:
        return p.segment(flags, seq=seqnum.add(irs, rel_seq), ack=seqnum.add(iss, rel_ack), payload=payload)

    data = stream_bytes(0, 1024, TESTER_SALT)
    p.send(p.segment(F.SYN, seq=irs, options=(("MSS", 512),)), at=0.0)
    p.send(seg(F.ACK, 1, 1), at=0.01)
    p.send(seg(F.ACK, 1, 1, data[:512]), at=0.02)
    p.send(seg(F.ACK, 513, 1, data[512:]), at=0.03)
    p.send(seg(F.ACK, 1025, 701), at=0.04)
    p.send(seg(F.ACK | F.FIN, 1025, 701), at=0.05)
    p.run_timers_until(0.05)
    p.send(seg(F.ACK, 1026, 702), at=0.06)
    reply = b"".join(s.payload for s in p.sent)
    assert reply == stream_bytes(0, 700, TARGET_SALT)
    return relative(p.sent, iss, irs), [new for _, new in p.states()]


SEED = [
    ("S.", 0, 1, 0),
    (".", 1, 1025, 0),
    (".", 1, 1025, 512),
    ("P.", 513, 1025, 188),
    (".", 701, 1026, 0),
    ("F.", 701, 1026, 0),
]


@pytest.mark.parametrize(
    ("iss", "irs"),
    [(100, 0), (MOD - 100, MOD - 600), (MOD - 1, MOD - 1), (MOD - 513, 5), (7, MOD - 1025)],
    ids=["seed", "both-wrap-mid-data", "isn-max", "responder-wraps", "peer-wraps-at-fin"],
)
def test_seed_exchange_across_the_wrap(iss: int, irs: int) -> None:
    segs, states = seed_exchange(iss, irs)
    assert segs == SEED
    assert states == [State.SYN_RCVD, State.ESTABLISHED, State.CLOSE_WAIT, State.LAST_ACK, State.CLOSED]


def test_out_of_order_reassembly_across_the_wrap() -> None:
    irs = MOD - 150
    r = Responder(agent_config(isn=MOD - 50))
    r.app_listen(8000, 0.0)
    p = Peer(r)
    p.send(p.segment(F.SYN, seq=irs))
    p.seq, p.ack = seqnum.add(irs, 1), seqnum.add(MOD - 50, 1)
    p.send(p.segment(F.ACK))
    data = stream_bytes(0, 300, TESTER_SALT)
    assert p.send(p.segment(F.ACK, seq=seqnum.add(p.seq, 200), payload=data[200:]))[0].ack == p.seq
    assert p.send(p.segment(F.ACK, seq=seqnum.add(p.seq, 100), payload=data[100:200]))[0].ack == p.seq
    out = p.send(p.segment(F.ACK, payload=data[:100]))
    assert out[0].ack == seqnum.add(p.seq, 300) == 151
    assert r.app_read(p.key, 1000, 0.0) == data


def test_retransmission_and_window_across_the_wrap() -> None:
    iss = MOD - 200
    r = Responder(agent_config(isn=iss))
    r.app_listen(8000, 0.0)
    p = Peer(r, window=300)
    p.send(p.segment(F.SYN, seq=0))
    p.seq, p.ack = 1, seqnum.add(iss, 1)
    p.send(p.segment(F.ACK))
    r.app_write(p.key, b"a" * 1000, 0.0)
    first = p.drain()
    assert [(s.seq, len(s.payload)) for s in first] == [(seqnum.add(iss, 1), 300)]
    retransmitted = [s for _, s in p.run_timers_until(1.0)]
    assert [(s.seq, len(s.payload)) for s in retransmitted] == [(seqnum.add(iss, 1), 300)]
    p.ack = seqnum.add(iss, 301)  # past 2^32
    out = p.send(p.segment(F.ACK))
    assert [(s.seq, len(s.payload)) for s in out] == [(101, 300)]
    assert r.state(p.key) is State.ESTABLISHED
