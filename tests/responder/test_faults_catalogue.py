"""The faults the conformance catalogue (testcases/<area>/) relies on: each changes what it claims.

As in ``test_faults``: every check runs with and without its fault and returns what it observed.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.responder import F, Peer, agent_config, show, to_listen, to_time_wait

from tcpconform.responder import Responder
from tcpconform.tcp.payload import TESTER_SALT, stream_bytes
from tcpconform.tcp.segment import Segment
from tcpconform.tcp.states import State


def fresh(faults: set[str]) -> Peer:
    r = Responder(agent_config(faults=frozenset(faults)))
    r.app_listen(8000, 0.0)
    return Peer(r, seq=0, ack=5000)


def established(faults: set[str], window: int = 5000, options: tuple = (("MSS", 512),)) -> Peer:
    p = fresh(faults)
    p.window = window
    p.send(p.segment(F.SYN, seq=0, options=options))
    p.seq, p.ack = 1, 101
    p.send(p.segment(F.ACK))
    return p


def synack_no_retransmit(faults: set[str]) -> object:
    p = fresh(faults)
    p.send(p.segment(F.SYN, seq=0))
    return [(t, show([s])[0]) for t, s in p.run_timers_until(4.0)]


def dup_syn_ack_only(faults: set[str]) -> object:
    p = fresh(faults)
    p.send(p.segment(F.SYN, seq=0))
    return show(p.send(p.segment(F.SYN, seq=0)))


def accept_any_ack_syn_rcvd(faults: set[str]) -> object:
    p = fresh(faults)
    p.send(p.segment(F.SYN, seq=0))
    out = show(p.send(p.segment(F.ACK, seq=1, ack=5100)))
    return out, p.r.state(p.key)


def no_rst_for_stray_ack(faults: set[str]) -> object:
    p = fresh(faults)
    return show(p.send(p.segment(F.ACK, seq=1000, ack=777)))


def ack_the_ack(faults: set[str]) -> object:
    p = established(faults)
    return show(p.send(p.segment(F.ACK)))


def process_without_ack(faults: set[str]) -> object:
    p = established(faults)
    out = show(p.send(p.segment(F.FIN, seq=1)))
    return out, p.r.state(p.key)


def process_without_ack_syn_rcvd(faults: set[str]) -> object:
    p = fresh(faults)
    p.send(p.segment(F.SYN, seq=0))
    out = show(p.send(p.segment(F.FIN, seq=1)))
    return out, p.r.state(p.key)


def rst_stray_without_ack(faults: set[str]) -> object:
    p = fresh(faults)
    return show(p.send(p.segment(F.FIN, seq=7)))


def rst_syn_in_syn_rcvd(faults: set[str]) -> object:
    p = fresh(faults)
    p.send(p.segment(F.SYN, seq=0))
    out = show(p.send(p.segment(F.SYN | F.ACK, seq=1, ack=101)))
    return out, p.r.state(p.key)


def defer_accept(faults: set[str]) -> object:
    p = fresh(faults)
    p.send(p.segment(F.SYN, seq=0))
    p.send(p.segment(F.ACK, seq=1, ack=101))
    before_data = p.r.state(p.key)
    p.send(p.segment(F.ACK | F.PSH, seq=1, ack=101, payload=b"x"))
    return before_data, p.r.state(p.key)


def wedge_on_bad_option(faults: set[str]) -> object:
    p = established(faults)
    p.send(p.segment(F.ACK | F.PSH, payload=b"x" * 10).with_(options=(("raw", b"\xfd\x00"),)))
    p.drain()
    fresh_port = Peer(p.r, port=40001)
    return show(fresh_port.send(fresh_port.segment(F.SYN, seq=0)))


def ack_syn_data(faults: set[str]) -> object:
    p = fresh(faults)
    return show(p.send(p.segment(F.SYN, seq=0, payload=b"x" * 10)))


def short_rto(faults: set[str]) -> object:
    p = established(faults)
    p.r.app_write(p.key, b"x" * 10, p.now)
    p.drain()
    return [round(t, 3) for t, _ in p.run_timers_until(p.now + 1.1)][:1]


def ignore_ack_of_fin(faults: set[str]) -> object:
    p = established(faults)
    p.r.app_shutdown(p.key, p.now)  # the target's FIN (101) goes out: FIN_WAIT_1
    p.drain()
    p.send(p.segment(F.ACK, ack=102))
    return p.r.state(p.key)


def syn_to_closed_port(faults: set[str]) -> object:
    p = fresh(faults)
    return show(p.send(p.segment(F.SYN, seq=1000).with_(dport=9)))


def drop_unknown_option(faults: set[str]) -> object:
    p = fresh(faults)
    return show(p.send(p.segment(F.SYN, seq=0, options=(("MSS", 512), ("253", b"\x01\x02")))))


def misparse_nop(faults: set[str]) -> object:
    p = established(faults, options=(("NOP", None), ("NOP", None), ("MSS", 300)))
    p.r.app_write(p.key, b"a" * 700, 0.0)
    return [len(s.payload) for s in p.drain()]


def with_data(p: Peer, n: int = 10, **fields: object) -> Segment:
    payload = stream_bytes(p.seq - 1, n, TESTER_SALT)
    return p.segment(F.ACK | F.PSH, payload=payload).with_(**fields)


def accept_bad_checksum(faults: set[str]) -> object:
    p = established(faults)
    p.send(with_data(p, chksum="bad"))
    return show(p.tick(1.0)), p.r.connections() and p.r.app_read(p.key, 100, 1.0)


def accept_bad_dataofs(faults: set[str]) -> object:
    p = established(faults)
    p.send(with_data(p, dataofs=4))
    return show(p.tick(1.0))


def reserved_bits_drop(faults: set[str]) -> object:
    p = established(faults)
    p.send(with_data(p, reserved=7))
    return show(p.tick(1.0))


def no_persist_probe(faults: set[str]) -> object:
    p = established(faults, window=0)
    p.r.app_write(p.key, b"a" * 100, 0.0)
    return [(t, show([s])[0]) for t, s in p.run_timers_until(4.0)]


def ignore_unacceptable(faults: set[str]) -> object:
    p = established(faults)
    return show(p.send(with_data(p, seq=70001)))


def deliver_duplicates(faults: set[str]) -> object:
    p = established(faults)
    p.data(10)
    p.seq = 1
    p.data(20)
    return p.r.app_read(p.key, 100, 1.0) == stream_bytes(0, 20, TESTER_SALT)


def no_dup_ack(faults: set[str]) -> object:
    p = established(faults)
    return show(p.send(with_data(p, seq=101)))


def accept_ack_of_unsent(faults: set[str]) -> object:
    p = established(faults)
    out = show(p.send(with_data(p, ack=5101)))
    return out, len(p.r.app_read(p.key, 100, 0.0))


def no_backoff(faults: set[str]) -> object:
    p = established(faults)
    p.r.app_write(p.key, b"a" * 10, 0.0)
    p.drain()
    return [t for t, _ in p.run_timers_until(8.0)]


def ignore_rst(faults: set[str]) -> object:
    p = established(faults)
    return show(p.send(p.segment(F.RST, seq=1))), p.r.state(p.key)


def rst_any_seq(faults: set[str]) -> object:
    p = established(faults)
    return show(p.send(p.segment(F.RST, seq=101))), p.r.state(p.key)


def rst_out_of_window(faults: set[str]) -> object:
    p = established(faults)
    return show(p.send(p.segment(F.RST, seq=100001))), p.r.state(p.key)


def syn_resets(faults: set[str]) -> object:
    p = established(faults)
    return show(p.send(p.segment(F.SYN, seq=100))), p.r.state(p.key)


def answer_rst_with_rst(faults: set[str]) -> object:
    listener = to_listen() if not faults else fresh(faults)
    out = show(listener.send(listener.segment(F.RST, seq=1)))
    p = established(faults)
    return out, show(p.send(p.segment(F.RST | F.ACK, seq=100001, ack=101)))


def rst_answers_rst(faults: set[str]) -> object:
    p = established(faults)
    return show(p.send(p.segment(F.RST, seq=1))), p.r.state(p.key)


def time_wait_ignores_fin(faults: set[str]) -> object:
    p = to_time_wait() if not faults else None
    if p is None:
        p = established(faults)
        p.r.app_close(p.key, 0.0)
        p.drain()
        p.ack = 102
        p.send(p.segment(F.ACK))
        p.send(p.segment(F.FIN | F.ACK))
        p.seq = 2
    return show(p.send(p.segment(F.FIN | F.ACK, seq=1))), p.r.state(p.key)


def odd_checksum(faults: set[str]) -> object:
    """Whether each data segment's checksum is right, by its length: only odd lengths go wrong."""
    from tcpconform.wire.tcp import tcp_checksum

    p = established(faults)
    p.r.app_setsockopt(p.key, "TCP_NODELAY", 1, p.now)  # each write its own segment, unacknowledged or not
    out = []
    for n in (1, 2, 333):
        p.r.app_write(p.key, b"\x5a" * n, p.now)
        out += [(len(s.payload), s.chksum is None or s.chksum == tcp_checksum(s)) for s in p.drain() if s.payload]
    return out


def skip_closing(faults: set[str]) -> object:
    p = established(faults)
    p.r.app_close(p.key, 0.0)
    p.drain()
    return show(p.send(p.segment(F.FIN | F.ACK))), p.r.state(p.key)


def option_kinds(faults: set[str]) -> object:
    """The option kinds of the SYN-ACK and of the ACK of 10 bytes (the peer offered an MSS only)."""
    p = fresh(faults)
    synack = p.send(p.segment(F.SYN, seq=0, options=(("MSS", 512),)))
    p.seq, p.ack = 1, 101
    p.send(p.segment(F.ACK))
    acks = p.send(p.segment(F.ACK | F.PSH, payload=b"x" * 10))
    p.now += 1.0
    acks += [s for _, s in p.run_timers_until(1.0)]
    return [[k for k, _ in s.options] for s in synack + acks]


CATALOGUE_CHECKS: dict[str, tuple[Callable[[set[str]], object], object, object]] = {
    "synack-no-retransmit": (synack_no_retransmit, [], [(1.0, "S. 100 1"), (3.0, "S. 100 1")]),
    "dup-syn-ack-only": (dup_syn_ack_only, [". 101 1"], ["S. 100 1"]),
    "accept-any-ack-syn-rcvd": (
        accept_any_ack_syn_rcvd, ([". 101 1"], State.ESTABLISHED), (["R 5100"], State.SYN_RCVD),
    ),
    "no-rst-for-stray-ack": (no_rst_for_stray_ack, [], ["R 777"]),
    "no-rst-closed-port": (syn_to_closed_port, [], ["R. 0 1001"]),
    "ack-the-ack": (ack_the_ack, [". 101 1"], []),
    "process-without-ack": (process_without_ack, ([". 101 2"], State.CLOSE_WAIT), ([], State.ESTABLISHED)),
    "rst-stray-without-ack": (rst_stray_without_ack, ["R. 0 8"], []),
    "wedge-on-bad-option": (wedge_on_bad_option, [], ["S. 100 1"]),
    "ack-syn-data": (ack_syn_data, ["S. 100 11"], ["S. 100 1"]),
    "short-rto": (short_rto, [0.2], [1.0]),
    "rst-syn-in-syn-rcvd": (rst_syn_in_syn_rcvd, (["R 101"], State.LISTEN), ([], State.LISTEN)),
    "defer-accept": (defer_accept, (State.SYN_RCVD, State.ESTABLISHED), (State.ESTABLISHED, State.ESTABLISHED)),
    "ignore-ack-of-fin": (ignore_ack_of_fin, State.FIN_WAIT_1, State.FIN_WAIT_2),
    "closed-port-rst-no-ack": (syn_to_closed_port, ["R 0"], ["R. 0 1001"]),
    "drop-unknown-option": (drop_unknown_option, [], ["S. 100 1"]),
    "misparse-nop": (misparse_nop, [536, 164], [300, 300, 100]),
    "accept-bad-checksum": (accept_bad_checksum, ([". 101 11"], stream_bytes(0, 10, TESTER_SALT)), ([], b"")),
    "accept-bad-dataofs": (accept_bad_dataofs, [". 101 11"], []),
    "reserved-bits-drop": (reserved_bits_drop, [], [". 101 11"]),
    "no-persist-probe": (no_persist_probe, [], [(1.0, ". 100 1"), (3.0, ". 100 1")]),
    "ignore-unacceptable": (ignore_unacceptable, [], [". 101 1"]),
    "deliver-duplicates": (deliver_duplicates, False, True),
    "no-dup-ack": (no_dup_ack, [], [". 101 1"]),
    "accept-ack-of-unsent": (accept_ack_of_unsent, ([], 10), ([". 101 1"], 0)),
    "no-backoff": (no_backoff, [float(t) for t in range(1, 9)], [1.0, 3.0, 7.0]),
    "ignore-rst": (ignore_rst, ([], State.ESTABLISHED), ([], State.CLOSED)),
    "rst-any-seq": (rst_any_seq, ([], State.CLOSED), ([". 101 1"], State.ESTABLISHED)),
    "rst-out-of-window": (rst_out_of_window, ([], State.CLOSED), ([], State.ESTABLISHED)),
    "syn-resets": (syn_resets, (["R 101"], State.CLOSED), ([". 101 1"], State.ESTABLISHED)),
    "answer-rst-with-rst": (answer_rst_with_rst, (["R 0"], ["R 101"]), ([], [])),
    "rst-answers-rst": (rst_answers_rst, (["R. 101 1"], State.CLOSED), ([], State.CLOSED)),
    "time-wait-ignores-fin": (time_wait_ignores_fin, ([], State.TIME_WAIT), ([". 102 2"], State.TIME_WAIT)),
    "odd-checksum": (odd_checksum, [(1, False), (2, True), (333, False)], [(1, True), (2, True), (333, True)]),
    "skip-closing": (skip_closing, ([". 102 2"], State.TIME_WAIT), ([". 102 2"], State.CLOSING)),
    "mss-on-every-segment": (option_kinds, [[], ["MSS"]], [[], []]),  # this responder's SYN-ACK has no MSS
    "sack-unpermitted": (option_kinds, [[], ["NOP", "NOP", "SAck"]], [[], []]),
    "garbled-options": (option_kinds, [["raw"], []], [[], []]),
    "eol-garbage": (option_kinds, [["EOL"], []], [[], []]),
}


@pytest.mark.parametrize("fault", sorted(CATALOGUE_CHECKS))
def test_catalogue_fault_changes_what_it_claims(fault: str) -> None:
    check, faulty, correct = CATALOGUE_CHECKS[fault]
    assert check({fault}) == faulty
    assert check(set()) == correct



def test_process_without_ack_takes_a_fin_in_syn_rcvd_too() -> None:
    assert process_without_ack_syn_rcvd({"process-without-ack"}) == ([". 101 2"], State.CLOSE_WAIT)
    assert process_without_ack_syn_rcvd(set()) == ([], State.SYN_RCVD)
