"""The fuzz campaign's figures (``tcpconform bench --fuzz N``): a short run names throughput and
memory and finds nothing; the same machinery finds what is planted."""

from __future__ import annotations

import random
import re

from tcpconform.bench.fuzz import decoder_figures, responder_figures
from tcpconform.bench.fuzzpeer import Harness, random_op
from tcpconform.responder.invariants import Invariants
from tcpconform.tcp.segment import Flags, Segment


def test_a_short_responder_campaign_reports_speed_memory_and_no_break() -> None:
    lines = list(responder_figures(2000, 7))
    text = "\n".join(lines)
    assert re.search(r"2,\d{3} segments \(seed 7\).*throughput [\d,]+ segments/s", text), text
    rss = re.search(r"RSS at each tenth \(MB\): ((?:[\d.]+ ?){10}); first to last tenth [+-][\d.]+ %", text)
    assert rss is not None, text
    assert "invariant breaks: 0" in text and "exceptions: 0 " in text, text
    assert all(mode in text for mode in ("scripted:", "agent:", "services:")), text
    assert [line.split(":")[1].strip() for line in lines[:10]] == [f"{k}/10" for k in range(1, 11)]


def test_a_short_decoder_campaign_reports_speed_and_nothing_wrong() -> None:
    text = "\n".join(decoder_figures(2000, 7))
    assert re.search(r"2,000 frames \(seed 7\): throughput [\d,]+ frames/s", text), text
    assert "exceptions: 0; tcp_segment/decode disagreements: 0; round trips of valid segments: 0 wrong of 100" in text
    assert re.search(r"against Scapy's dissection: 0 of \d+ sampled frames differ", text), text


def test_the_checker_flags_a_segment_beyond_the_window() -> None:
    check = Invariants()
    check.peer_sent(Segment("192.0.2.1", "192.0.2.2", 40000, 8000, seq=0, flags=Flags.SYN))
    assert check.responder_sent(Segment("192.0.2.2", "192.0.2.1", 8000, 40000, seq=99, ack=1, flags=Flags.SYN | Flags.ACK)) == []
    check.peer_sent(Segment("192.0.2.1", "192.0.2.2", 40000, 8000, seq=1, ack=100, flags=Flags.ACK, window=100))
    fits = Segment("192.0.2.2", "192.0.2.1", 8000, 40000, seq=100, ack=1, flags=Flags.ACK, payload=b"x" * 100)
    assert check.responder_sent(fits) == []
    broken = check.responder_sent(fits.with_(seq=200, payload=b"y" * 2))
    assert [b.rule for b in broken] == ["beyond-window"] and "2 octet(s) beyond" in str(broken[0])


def test_a_responder_that_ignores_the_window_is_caught_by_the_campaign() -> None:
    rng = random.Random(3)
    found = Harness("services", 8, faults=frozenset(["ignore-window"]))
    for _ in range(3000):
        found.run(random_op(rng, 8))
    assert found.tally.breaks > 0 and "beyond-window" in found.tally.first_breaks[0]
