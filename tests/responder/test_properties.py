"""Properties of the reference responder under random and semi-valid input, judged by the same
checker as the fuzz campaign (:mod:`tcpconform.responder.invariants`, driven through
:mod:`tcpconform.bench.fuzzpeer`): it never raises, every segment it sends keeps the rules, and its
next deadline is always the earliest of every connection's and application's."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from support.responder import IP, PEER_IP, F

from tcpconform.bench.fuzzpeer import App, Harness, Leave, Op, Send, Wait
from tcpconform.responder import AppConfig, Responder, ResponderConfig
from tcpconform.responder.invariants import Invariants
from tcpconform.responder.receive import ReceiveBuffer
from tcpconform.tcp.segment import Segment

SLOTS = 3

offsets = st.one_of(st.just(0), st.integers(-3, 3), st.sampled_from([-1000, 100, 1000, 65535, 1 << 31]),
                    st.integers(-(1 << 31), (1 << 31) - 1))
options = st.one_of(
    st.just(()),
    st.tuples(st.tuples(st.just("MSS"), st.integers(0, 65535))),
    st.just((("NOP", None), ("MSS", 100), ("SAckOK", None))),
    st.sampled_from([(("raw", b"\x02\x00"),), (("raw", b"\x1d\x03\x54\x7e\x02\x04\xae\xcc"),)]),
)
sends = st.builds(
    Send, st.integers(0, SLOTS - 1), st.sampled_from(["syn", "ack", "data", "data", "fin", "rst", "any"]),
    offsets, offsets, st.sampled_from([0, 1, 10, 536, 1000, 3000]), st.sampled_from([0, 1, 100, 1000, 65535]),
    st.one_of(st.just(0), st.integers(0, 0x1FF)), options, st.sampled_from(["", "", "", "", "checksum", "dataofs"]),
)
ops: st.SearchStrategy[Op] = st.one_of(
    sends, sends, sends,
    st.builds(Wait, st.sampled_from([0.001, 0.1, 0.2, 1.0, 3.0, 70.0])),
    st.builds(App, st.integers(0, SLOTS - 1), st.sampled_from(["write", "write", "read", "shutdown", "close", "listen"]),
              st.sampled_from([0, 1, 100, 2000, 8000, 70000])),
    st.builds(Leave, st.integers(0, SLOTS - 1), st.sampled_from(["rst", "forget", "silent"])),
)


def handshakes(slots: int, window: int = 65535) -> list[Op]:
    """Each peer opens a connection as a TCP would: the runs start from established connections."""
    return [op for slot in range(slots) for op in (Send(slot, "syn", seq_off=slot * 1000), Send(slot, "ack", window=window))]


def earliest_deadline(r: Responder) -> float | None:
    """What get_timer means, computed the slow way: over every connection and application."""
    times = [t for c in r._conns.values() if (t := c.deadline()) is not None]
    times += [t for s in r._sessions.values() if (t := s.deadline()) is not None]
    return min(times) if times else None


def run(mode: str, script: list[Op], isn: int | None = None) -> Harness:
    h = Harness(mode, SLOTS, isn=isn)  # type: ignore[arg-type]
    for op in script:
        h.run(op)
        assert h.responder.get_timer() == earliest_deadline(h.responder), op
    h.sweep()
    return h


def assert_clean(h: Harness) -> None:
    t = h.tally
    assert (t.breaks, t.exceptions) == (0, 0), t.first_breaks + t.first_exceptions


@given(st.lists(ops, max_size=40))
def test_scripted_mode_keeps_every_rule(script: list[Op]) -> None:
    assert_clean(run("scripted", handshakes(SLOTS) + script))


@given(st.lists(ops, max_size=40), st.sampled_from([None, 0xFFFFFF00, 0x7FFFFFF0]))
def test_agent_mode_keeps_every_rule(script: list[Op], isn: int | None) -> None:
    writes: list[Op] = [App(slot, "write", 3000) for slot in range(SLOTS)]
    assert_clean(run("agent", handshakes(SLOTS) + writes + script, isn))


@given(st.lists(ops, max_size=30))
def test_services_keep_every_rule(script: list[Op]) -> None:
    assert_clean(run("services", handshakes(SLOTS) + script))


@given(st.lists(st.tuples(st.integers(0, 3000), st.integers(1, 600)), max_size=30))
def test_the_receive_buffer_delivers_each_byte_once_in_order(pieces: list[tuple[int, int]]) -> None:
    """Pieces of one stream, in any order and repeated, then the whole: the stream comes out once."""
    stream = bytes(range(256)) * 15
    buf = ReceiveBuffer(1000, 65535)
    for start, length in [*pieces, (0, len(stream))]:
        data = stream[start:start + length]
        buf.insert(1000 + start, data, False, 1000 + 65535, keep_out_of_order=True)
        assert buf.held <= 65535
    assert buf.read(len(stream)) == stream and buf.held == 0


# ---------------------------------------------------------------------- the checker can fail


def test_the_checker_flags_data_sent_into_a_window_the_peer_closed() -> None:
    """Finding 8's exchange: an out-of-order segment, then one filling the gap that acknowledges the
    data and closes the window: 100 more octets at that point are beyond the window."""
    check = Invariants()
    x = 5000

    def peer(**k: object) -> Segment:
        return Segment(PEER_IP, IP, 40000, 8000, **k)  # type: ignore[arg-type]

    def ours(**k: object) -> Segment:
        return Segment(IP, PEER_IP, 8000, 40000, **k)  # type: ignore[arg-type]

    check.peer_sent(peer(seq=0, flags=F.SYN, window=5000))
    assert check.responder_sent(ours(seq=x, ack=1, flags=F.SYN | F.ACK)) == []
    check.peer_sent(peer(seq=1, ack=x + 1, flags=F.ACK, window=5000))
    check.peer_sent(peer(seq=1001, ack=x + 1, flags=F.ACK, window=100, payload=b"z" * 10))
    assert check.responder_sent(ours(seq=x + 1, ack=1, flags=F.ACK)) == []
    assert check.responder_sent(ours(seq=x + 1, ack=1, flags=F.ACK, payload=b"d" * 100)) == []
    check.peer_sent(peer(seq=1, ack=x + 101, flags=F.ACK, window=0, payload=b"a" * 10))
    assert check.responder_sent(ours(seq=x + 101, ack=11, flags=F.ACK | F.PSH, payload=b"p")) == []  # a probe
    broken = check.responder_sent(ours(seq=x + 102, ack=11, flags=F.ACK, payload=b"d" * 99))
    assert [b.rule for b in broken] == ["beyond-window"]
    assert [b.rule for b in check.responder_sent(ours(seq=x + 201, ack=12, flags=F.ACK))] == ["ack-beyond-received"]


def test_the_checker_flags_each_rst_rule() -> None:
    check = Invariants()
    syn = Segment(PEER_IP, IP, 40000, 9, seq=7, flags=F.SYN)
    rst = Segment(PEER_IP, IP, 40000, 9, seq=7, flags=F.RST)
    ack = Segment(PEER_IP, IP, 40000, 9, seq=7, ack=99, flags=F.ACK)
    right = Segment(IP, PEER_IP, 9, 40000, seq=0, ack=8, flags=F.RST | F.ACK)
    assert check.responder_sent(right, syn) == []
    assert [b.rule for b in check.responder_sent(right.with_(ack=7), syn)] == ["rst-numbers"]
    assert [b.rule for b in check.responder_sent(right, rst)] == ["rst-answers-rst"]
    assert [b.rule for b in check.responder_sent(right, ack)] == ["rst-numbers"]
    assert check.responder_sent(Segment(IP, PEER_IP, 9, 40000, seq=99, flags=F.RST), ack) == []
    assert {b.rule for b in check.responder_sent(right.with_(flags=F.RST | F.SYN, payload=b"x"), syn)} >= {
        "syn-with-rst-or-fin", "data-on-rst"}


def test_a_faulty_responder_breaks_the_rules() -> None:
    """The same harness finds the faults that break a rule: numbers, windows, MSS, RSTs."""
    script = [*handshakes(SLOTS, window=1000), *(App(s, "write", 5000) for s in range(SLOTS)), Send(0, "data", length=10),
              Send(0, "rst", seq_off=100_000)]
    for fault, rule in [("ack-unreceived", "ack-beyond-received"), ("ignore-window", "beyond-window"),
                        ("ignore-mss", "above-mss"), ("bad-syn-ack", "syn-ack-of-no-syn"),
                        ("answer-rst-with-rst", "rst-answers-rst")]:
        h = Harness("agent", SLOTS, faults=frozenset([fault]))
        for op in script:
            h.run(op)
        assert any(rule in line for line in h.tally.first_breaks), (fault, h.tally.first_breaks)
    clean = Responder(ResponderConfig(app=AppConfig(mode="agent")))
    assert clean.get_timer() is None
