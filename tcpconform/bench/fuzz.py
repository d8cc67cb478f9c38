"""``tcpconform bench --fuzz N``: a long campaign of random input against the reference responder and
the frame decoder, with figures on speed, memory and every rule broken.

Responder: ``n`` random and semi-valid segments (:mod:`tcpconform.bench.fuzzpeer`) spread over
long-lived responders in scripted, agent and services mode, each with its peers on ever new
4-tuples, timers running on a virtual clock and (agent mode) application calls in between; every
segment sent is checked by :class:`~tcpconform.responder.invariants.Invariants`.  Memory is read at
each tenth of the run: a responder serving for days must stay the same size once its connections
are up, so the growth from the first tenth to the last is the figure to watch, and the growth over
the last half tells a leak (it goes on) from the bounded structures filling up (they stop).

Decoder: ``n`` frames, a tenth of them valid (TCP over IPv4 and IPv6, ARP, neighbour discovery),
the rest truncated, bit-flipped, padded or with a header field set wrong, through the receive path
(:func:`~tcpconform.wire.frame.tcp_segment`, then :func:`~tcpconform.wire.frame.decode` and
:attr:`~tcpconform.wire.frame.Frame.nd`).  Nothing may raise, the two entry points must agree, and
a valid segment must come back as it was sent; a sample is compared with Scapy's dissection.

The figures are printed, never judged by a threshold here; the tests judge the counts (none).
"""

from __future__ import annotations

import ipaddress
import random
import resource
import struct
import time
from collections.abc import Iterator
from pathlib import Path

from tcpconform.bench.fuzzpeer import Harness, Mode, Tally, random_op
from tcpconform.tcp.segment import Flags, Option, Segment
from tcpconform.wire.arp import encode_arp
from tcpconform.wire.ethernet import mac_bytes
from tcpconform.wire.frame import decode, encode, tcp_segment
from tcpconform.wire.ndp import encode_advertisement, encode_solicitation

SLOTS = 256
"""Peers per responder at any time (each comes back on a fresh port when it leaves)."""
CHUNK = 64
"""Operations run on one responder before the campaign picks the next."""
MIX: tuple[tuple[Mode, int | None, float], ...] = (
    ("scripted", None, 0.35), ("agent", None, 0.35), ("agent", 0xFFFFFF00, 0.1), ("services", None, 0.2),
)
"""(mode, fixed ISN or None for RFC 6528's, share of the operations): a fixed ISN just below 2^32
makes every connection's numbers wrap."""
SCAPY_EVERY = 97
"""One frame in this many is also dissected by Scapy (ten times slower than the decoder)."""


def rss_mb() -> float:
    """This process's resident memory now (VmRSS), or its peak where /proc is not there."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _growth(samples: list[float]) -> str:
    if len(samples) < 2 or samples[0] <= 0:
        return "n/a"
    return f"{(samples[-1] - samples[0]) / samples[0] * 100:+.1f} %"


# ---------------------------------------------------------------------- the responder


def responder_figures(n: int, seed: int) -> Iterator[str]:
    """``n`` segments into long-lived responders, every answer checked; printable lines: one at
    each tenth of the run (a long campaign shows its progress), then the figures."""
    rng = random.Random(seed)
    harnesses = [Harness(mode, SLOTS, isn=isn, name=i) for i, (mode, isn, _) in enumerate(MIX)]
    weights = [share for _, _, share in MIX]
    tenths, samples, start = [max(1, n * k // 10) for k in range(1, 11)], [], time.perf_counter()
    sent = 0
    while sent < n:
        h = rng.choices(harnesses, weights)[0]
        for _ in range(CHUNK):
            op = random_op(rng, SLOTS)
            h.run(op)
        sent = sum(x.tally.segments for x in harnesses)
        while tenths and sent >= tenths[0]:
            tenths.pop(0)
            samples.append(rss_mb())
            yield (f"fuzz responder: {len(samples)}/10: {sent:,} segments, RSS {samples[-1]:.1f} MB, "
                   f"{sum(x.tally.breaks for x in harnesses)} breaks, "
                   f"{sum(x.tally.exceptions for x in harnesses)} exceptions")
    wall = time.perf_counter() - start
    total = Tally()
    for h in harnesses:
        h.sweep()
        t = h.tally
        total.segments += t.segments
        total.taken += t.taken
        total.sent += t.sent
        total.app_errors += t.app_errors
        total.breaks += t.breaks
        total.exceptions += t.exceptions
        total.responder_seconds += t.responder_seconds
        total.first_breaks += t.first_breaks
        total.first_exceptions += t.first_exceptions
    yield (f"fuzz responder: {total.segments:,} segments (seed {seed}) in {wall:.1f} s: "
           f"throughput {total.segments / wall:,.0f} segments/s; {total.taken:,} taken in, "
           f"{total.sent:,} sent and checked; the responder's own share "
           f"{total.responder_seconds / max(total.segments, 1) * 1e6:.1f} us per segment")
    yield (f"fuzz responder: RSS at each tenth (MB): {' '.join(f'{x:.1f}' for x in samples)}; "
           f"first to last tenth {_growth(samples)}, over the last half {_growth(samples[len(samples) // 2 - 1:])}")
    yield f"fuzz responder: invariant breaks: {total.breaks}"
    yield from (f"  {line}" for line in total.first_breaks[:5])
    yield (f"fuzz responder: exceptions: {total.exceptions} (and {total.app_errors:,} documented "
           f"ResponderError/ValueError answers to application calls)")
    yield from (f"  {line}" for line in total.first_exceptions[:5])
    for (mode, isn, _), h in zip(MIX, harnesses, strict=True):
        r = h.responder
        yield (f"fuzz responder: {mode}{'' if isn is None else f' (ISN {isn:#x})'}: {h.tally.segments:,} "
               f"segments, {len(r.connections())} connections at the end, {r.dropped_count:,} discarded, "
               f"{h.now / 86400:.1f} virtual days")


# ---------------------------------------------------------------------- the decoder

_MAC_A, _MAC_B = "02:00:00:00:00:01", "02:00:00:00:00:02"


def _one_option(rng: random.Random) -> tuple[Option, int]:
    """A random option that decodes to itself, and its size on the wire."""
    pick = rng.randrange(7)
    if pick == 0:
        return ("MSS", rng.randrange(65536)), 4
    if pick == 1:
        return ("WScale", rng.randrange(256)), 3
    if pick == 2:
        return ("SAckOK", None), 2
    if pick == 3:
        return ("NOP", None), 1
    if pick == 4:
        return ("Timestamp", (rng.randrange(2**32), rng.randrange(2**32))), 10
    if pick == 5:
        return ("SAck", (rng.randrange(2**32), rng.randrange(2**32))), 10
    raw = rng.randbytes(rng.choice([0, 2, 6]))
    return ("253", raw), 2 + len(raw)


def _round_tripping_options(rng: random.Random) -> tuple[Option, ...]:
    """Options that decode to what was encoded (no EOL: the padding after the list reads as one)."""
    out: list[Option] = []
    room = 40
    for _ in range(rng.randrange(5)):
        opt, size = _one_option(rng)
        if size > room:
            break
        out.append(opt)
        room -= size
    return tuple(out)


def random_segment(rng: random.Random) -> Segment:
    """A valid segment with any header values, over IPv4 or IPv6."""
    if rng.random() < 0.3:
        src = str(ipaddress.IPv6Address(rng.randrange(2**128)))
        dst = str(ipaddress.IPv6Address(rng.randrange(2**128)))
    else:
        src, dst = f"10.{rng.randrange(256)}.{rng.randrange(256)}.1", f"192.0.2.{rng.randrange(256)}"
    return Segment(src, dst, rng.randrange(65536), rng.randrange(65536), seq=rng.randrange(2**32),
                   ack=rng.randrange(2**32), flags=Flags(rng.randrange(512)), window=rng.randrange(65536),
                   urgptr=rng.randrange(65536), options=_round_tripping_options(rng),
                   payload=rng.randbytes(rng.choice([0, 0, 1, 7, 100, 1460, rng.randrange(9000)])),
                   reserved=rng.randrange(8))


def roundtrip_mismatch(seg: Segment) -> str | None:
    """How ``decode(encode(seg))`` differs from ``seg`` (the EOLs of its padding and the spelling of
    its addresses aside), or ``None``."""
    frame = decode(encode(seg, _MAC_A, _MAC_B))
    got = frame.segment if frame is not None else None
    if got is None or frame is None:
        return f"not decoded: {seg.summary()}"
    options = got.options
    while options and options[-1] == ("EOL", None):
        options = options[:-1]
    if not frame.checksum_ok:
        return f"checksum wrong after decoding {seg.summary()}"
    same_addresses = all(ipaddress.ip_address(a) == ipaddress.ip_address(b)
                         for a, b in ((got.src, seg.src), (got.dst, seg.dst)))
    # inet_ntop may spell an IPv6 address another way than it was written (::0.1.0.0 for ::1:0)
    if not same_addresses or got.with_(src=seg.src, dst=seg.dst, chksum=None, dataofs=None, options=options) != seg:
        return f"{seg} came back as {got}"
    return None


def _mutate(rng: random.Random, frame: bytes) -> bytes:
    out = bytearray(frame)
    ip_at = 14
    how = rng.randrange(12) if len(out) >= 54 else 0
    ipv4 = out[12:14] == b"\x08\x00"
    if how == 0:
        out = out[: rng.randrange(len(out) + 1)]
    elif how == 1:
        out += rng.randbytes(rng.randrange(1, 60))  # Ethernet padding, or trailing junk
    elif how == 2:
        at = ip_at + ((out[ip_at] & 0x0F) * 4 if ipv4 else 40) + 12
        if at < len(out):
            out[at] = rng.randrange(16) << 4 | out[at] & 0x0F  # TCP data offset
    elif how == 3:
        struct.pack_into("!H", out, 16 if ipv4 else 18, rng.randrange(len(out) + 60))
    elif how == 4:
        out[ip_at] = 0x40 | rng.randrange(16)  # IPv4 version and header length
    elif how in (5, 6, 7):
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
    elif how == 8:
        struct.pack_into("!H", out, 20, rng.choice([0x2001, 0x0001, 0x4000, 0x3FFF]))  # fragments
    elif how == 9:
        out[23 if ipv4 else 20] = rng.choice([0, 1, 4, 17, 41, 43, 44, 58, 60, 6])
    elif how == 10:
        out[12:14] = rng.choice([b"\x81\x00", b"\x88\xa8", b"\x08\x06", b"\x86\xdd", b"\x08\x00", b"\x00\x40"])
    else:
        at = rng.randrange(54, max(55, len(out)))
        out[at:at] = rng.randbytes(rng.choice([1, 2, 3, 4, 40]))  # bytes inserted (options that lie)
    return bytes(out)


def _valid_frame(rng: random.Random) -> bytes:
    pick = rng.random()
    if pick < 0.8:
        return encode(random_segment(rng), _MAC_A, _MAC_B)
    if pick < 0.9:
        return encode_arp(rng.choice([1, 2]), _MAC_A, f"10.0.0.{rng.randrange(256)}", _MAC_B, "10.0.0.2")
    if pick < 0.95:
        return encode_solicitation(mac_bytes(_MAC_A), "fe80::1", f"fe80::{rng.randrange(1, 65536):x}")
    return encode_advertisement(mac_bytes(_MAC_A), "fe80::1", mac_bytes(_MAC_B), f"fe80::{rng.randrange(1, 65536):x}")


def random_frame(rng: random.Random) -> bytes:
    """A frame for the decoder: a tenth valid, the rest mutated once or more, or random bytes."""
    pick = rng.random()
    if pick < 0.1:
        return _valid_frame(rng)
    if pick < 0.95:
        frame = _valid_frame(rng)
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            frame = _mutate(rng, frame)
        return frame
    return rng.randbytes(rng.randrange(120))


def decoder_disagreement(frame: bytes) -> str | None:
    """Run ``frame`` through the receive path (as a raw-socket link does); how :func:`tcp_segment`
    and :func:`decode` disagree on it, or ``None``.  Exceptions propagate: they are the finding."""
    got = tcp_segment(frame)
    full = decode(frame)
    if full is not None:
        _ = full.nd
    if got is None:
        if full is not None and full.segment is not None:
            return "decode finds a segment where tcp_segment does not"
        return None
    if full is None or full.segment != got[0] or full.checksum_ok != got[1]:
        return "tcp_segment and decode give different segments"
    return None


def decoder_figures(n: int, seed: int) -> Iterator[str]:
    """``n`` random frames through the decoder; printable lines."""
    rng = random.Random(seed)
    try:
        from tcpconform.bench.scapy_reference import decode_scapy
    except ImportError:  # Scapy is a dependency; without it the comparison is left out
        decode_scapy = None  # type: ignore[assignment]
    exceptions = disagreements = decoded = scapy_sampled = scapy_differ = 0
    first: list[str] = []
    spent = 0.0
    for i in range(n):
        frame = random_frame(rng)
        t = time.perf_counter()
        try:
            why = decoder_disagreement(frame)
            spent += time.perf_counter() - t
        except Exception as err:  # the finding: counted and described
            spent += time.perf_counter() - t
            exceptions += 1
            why = f"{type(err).__name__}: {err}"
        else:
            disagreements += why is not None
            decoded += tcp_segment(frame) is not None
        if why is not None and len(first) < 5:
            first.append(f"{why}: {frame.hex()[:120]}")
        if decode_scapy is not None and i % SCAPY_EVERY == 0:
            scapy_sampled += 1
            scapy_differ += decode(frame) != decode_scapy(frame)
    roundtrips = max(1, n // 20)
    wrong = [m for _ in range(roundtrips) if (m := roundtrip_mismatch(random_segment(rng))) is not None]
    first += wrong[: max(0, 5 - len(first))]
    yield (f"fuzz decoder: {n:,} frames (seed {seed}): throughput {n / max(spent, 1e-9):,.0f} frames/s, "
           f"{spent / max(n, 1) * 1e6:.1f} us per frame in the decoder; {decoded:,} held a segment")
    yield (f"fuzz decoder: exceptions: {exceptions}; tcp_segment/decode disagreements: {disagreements}; "
           f"round trips of valid segments: {len(wrong)} wrong of {roundtrips:,}")
    yield from (f"  {line}" for line in first)
    if decode_scapy is not None:
        yield f"fuzz decoder: against Scapy's dissection: {scapy_differ} of {scapy_sampled:,} sampled frames differ"
