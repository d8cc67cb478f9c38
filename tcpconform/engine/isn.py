"""ISN statistics: many SYNs from many source ports, and how guessable the answers' ISNs are.

RFC 9293 3.4.1 asks for clock-driven ISNs (MUST-8) and, to stop off-path attackers, for RFC 6528's
``ISN = M + F(4-tuple, secret)`` (SHLD-1): a clock *plus* a keyed hash of the connection, so that
one observed ISN says nothing about the ISN of a connection with another source port.  A
black-box tester can only sample: it opens half-connections from varied source ports, collects
the SYN-ACKs' sequence numbers with their times, resets each one, and looks at the sample the way
nmap's sequence analysis does (differences, their GCD, the rate ``ISR`` and the predictability
index ``SP``), adding one figure of its own that answers RFC 6528's question directly: how many
bits an attacker who knows every earlier ISN and the counter's rate still has to guess.

The statistics are pure functions of the sample (:func:`isn_figures`), so they are tested without
a link; :func:`sample` is the part of a case that talks to the target.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tcpconform.cases.model import IsnCheckStep, IsnSampleStep
from tcpconform.engine import timing
from tcpconform.engine.env import StepEnv
from tcpconform.engine.outcome import StepFailed, StepSkipped
from tcpconform.engine.waits import Waiting
from tcpconform.results import Mismatch, StepResult
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, FourTuple, Segment


@dataclass(frozen=True, slots=True)
class IsnSample:
    at: float
    """When the SYN was sent, on the link's clock."""
    sport: int
    isn: int


@dataclass(frozen=True, slots=True)
class TakenSample:
    """The sample an ``isn_sample`` step took, kept for the checks after it."""

    samples: tuple[IsnSample, ...]


def _mod_diff(a: int, b: int) -> int:
    """The distance between two sequence numbers on the circle (nmap's ``MOD_DIFF``)."""
    d = (a - b) & seqnum.MASK
    return min(d, (-d) & seqnum.MASK)


def _signed(d: int) -> int:
    d &= seqnum.MASK
    return d - (1 << 32) if d >= 1 << 31 else d


LCG_MIN_SAMPLES = 5
"""ISNs a generator must predict before it counts as recovered: three fix ``a`` and ``c``, and every
further one must then follow exactly (a chance of 2^-32 each for ISNs that do not)."""

LCG_MAX_CANDIDATES = 1 << 16
"""Multipliers tried when every difference is even (``a`` is then fixed only modulo 2^(32-k)): enough
for a counter stepping by 64000 (2^9 * 125); each must predict the whole sample, so the number tried
leaves a sample that fits none by chance at odds far below 2^-64."""


def lcg_fit(isns: list[int]) -> tuple[int, int] | None:
    """``(a, c)`` when every ISN follows from the one before as ``a * ISN + c mod 2^32`` (a linear
    congruential generator stepped once per connection, as NUMBER:JACK found in embedded stacks; a
    counter is the case ``a = 1``), else ``None``.

    The differences obey ``d[i+1] = a * d[i] mod 2^32``, so one difference with its lowest set bit at
    ``k`` fixes ``a`` modulo ``2^(32-k)``: each of the ``2^k`` candidates (at most
    :data:`LCG_MAX_CANDIDATES`) is kept only if it predicts the whole sample exactly.
    """
    if len(isns) < LCG_MIN_SAMPLES:
        return None
    mask = seqnum.MASK
    diffs = [(b - a) & mask for a, b in itertools.pairwise(isns)]
    pairs = [(i, (d & -d).bit_length() - 1) for i, d in enumerate(diffs[:-1]) if d]
    if not pairs:
        return None
    i, k = min(pairs, key=lambda pair: pair[1])
    if 1 << k > LCG_MAX_CANDIDATES or diffs[i + 1] % (1 << k):
        return None
    modulus = 1 << (32 - k)
    base = (diffs[i + 1] >> k) * pow(diffs[i] >> k, -1, modulus) % modulus
    for t in range(1 << k):
        a = base + t * modulus
        c = (isns[i + 1] - a * isns[i]) & mask
        if all((a * x + c) & mask == y for x, y in itertools.pairwise(isns)):
            return a, c
    return None


def isn_figures(samples: list[IsnSample]) -> dict[str, Any]:
    """nmap-style figures of an ISN sample, plus the bits an attacker must still guess.

    - ``gcd``: greatest common divisor of the differences between consecutive ISNs (a counter
      stepping by 64000 shows as 64000; a random sequence as 1);
    - ``isr``: ``8 * log2`` of the mean rate of ISN increase per second (nmap's ISR);
    - ``sp``: ``8 * log2`` of the standard deviation of those rates, divided by the GCD when it is
      above 9 (nmap's SP: 0 for a constant or fixed-step sequence, about 24 for a bare clock
      sampled with a little jitter, 200+ for RFC 6528);
    - ``predict_bits``: ``log2`` of the median error when each ISN is predicted from the previous
      one and the median rate: what RFC 6528 is about, in bits; 0 when ``lcg`` is there;
    - ``lcg``: the linear congruential generator every ISN follows from the previous one by
      (:func:`lcg_fit`), when there is one: its ISNs look random to the rate, and are not.
    """
    n = len(samples)
    isns = [s.isn for s in samples]
    out: dict[str, Any] = {"samples": n, "distinct": len(set(isns)),
                           "source_ports": f"{min(s.sport for s in samples)}..{max(s.sport for s in samples)}"
                           if samples else "-"}
    if n < 3:
        return out
    pairs = list(itertools.pairwise(samples))
    diffs = [_mod_diff(b.isn, a.isn) for a, b in pairs]
    gaps = [max(b.at - a.at, 1e-9) for a, b in pairs]
    gcd = 0
    for d in diffs:
        gcd = math.gcd(gcd, d)
    rates = [d / g for d, g in zip(diffs, gaps, strict=True)]
    mean_rate = statistics.fmean(rates)
    scaled = [r / gcd for r in rates] if gcd > 9 else rates
    spread = statistics.pstdev(scaled)
    rate = statistics.median(_signed(b.isn - a.isn) / g for (a, b), g in zip(pairs, gaps, strict=True))
    errors = [abs(_signed(b.isn - (a.isn + round(rate * g)))) for (a, b), g in zip(pairs, gaps, strict=True)]
    out.update({
        "gcd": gcd,
        "isr": round(8 * math.log2(mean_rate)) if mean_rate >= 1 else 0,
        "sp": round(8 * math.log2(spread)) if spread > 1 else 0,
        "rate_per_s": round(rate),
        "predict_error_median": round(statistics.median(errors)),
        "predict_bits": round(math.log2(statistics.median(errors) + 1), 1),
    })
    lcg = lcg_fit(isns)
    if lcg is not None:
        out.update({"lcg": f"ISN' = {lcg[0]} * ISN + {lcg[1]} mod 2^32", "predict_bits": 0.0})
    return out


def sample(env: StepEnv, step: IsnSampleStep, sres: StepResult) -> Waiting[None]:
    """Send ``step.count`` SYNs, one per spare source port, ``step.interval`` apart; keep each answer's ISN.

    Every SYN-ACK must acknowledge the SYN's sequence number + 1 (RFC 9293 3.4 / 3.10.7.2); each
    half-open connection is reset at once, so the target keeps nothing.  Segments of the sample
    reach this case because the scheduler routes every spare port of the case to it.
    """
    ports = env.spare_ports[: step.count]
    if len(ports) < step.count:
        raise StepFailed(f"only {len(ports)} spare source ports for a sample of {step.count}")
    sres.expected = f"{step.count} SYN-ACKs, each acknowledging its SYN + 1"
    isn = env.conn.tester_isn
    samples: list[IsnSample] = []
    link, own = env.link, env.key
    for i, sport in enumerate(ports):
        key = FourTuple(own.src, sport, own.dst, own.dport)
        syn = Segment(key.src, key.dst, key.sport, key.dport, seq=isn, flags=Flags.SYN,
                      window=env.case.tester_window, options=(("MSS", env.case.tester_mss or 536),))
        sent = link.send(syn)
        at = sent.at
        if i < 3:  # the first few on the ladder; the rest are figures
            env.record("out", syn, at, sres.index, f"ISN sample {i + 1}/{step.count}", sent.frame)
        within = step.within or env.settings.profile.within
        got = yield from env.take(_syn_ack_to(sport), timing.latest(at, within))
        if got is None:
            raise StepFailed(f"no SYN-ACK to the SYN from port {sport} within {_ms(within)} "
                             f"(sample {i + 1} of {step.count})")
        seg = got.segment
        if i < 3:
            env.record("in", seg, got.at, sres.index, f"ISN sample {i + 1}/{step.count}", got.frame)
        if seg.ack != seqnum.add(isn, 1):
            raise StepFailed(f"the SYN-ACK to the SYN from port {sport} acknowledges {seg.ack}, "
                             f"not the SYN's sequence number + 1",
                             [Mismatch("ack", str(seqnum.add(isn, 1)), str(seg.ack))])
        samples.append(IsnSample(at, sport, seg.seq))
        link.send(Segment(key.src, key.dst, key.sport, key.dport, seq=seqnum.add(isn, 1), flags=Flags.RST))
        if i + 1 < len(ports):
            yield from env.sleep(at + step.interval)
    figures = isn_figures(samples)
    env.result.figures.update(figures)
    env.keep(TakenSample(tuple(samples)))
    sres.message = describe(figures)
    env.t_ref = link.now()


def _syn_ack_to(sport: int) -> Callable[[Segment], bool]:
    """The target's answer to the sample's SYN from ``sport``; anything else on the sample's ports is let pass."""
    return lambda seg: seg.dport == sport and bool(seg.flags & Flags.SYN)


def check(env: StepEnv, step: IsnCheckStep, sres: StepResult) -> None:
    """Judge the sample taken by an earlier ``isn_sample`` step."""
    figures = env.result.figures
    if "samples" not in figures:
        raise StepFailed("no ISN sample to judge: an isn_sample step must come first")
    n, distinct = figures["samples"], figures["distinct"]
    if step.check == "clock-driven":
        sres.expected = "ISNs that change with time: no ISN used twice"
        if distinct < n:
            what = "one constant ISN" if distinct == 1 else f"only {distinct} distinct ISNs"
            raise StepFailed(f"{n} connections over {_span(env.kept(TakenSample))} got {what}: "
                             "the ISN does not follow a clock",
                             [Mismatch("distinct ISNs", str(n), str(distinct))])
    elif len(_ports(env.kept(TakenSample))) < n:
        raise StepSkipped(f"not judged: the {n} connections came from only {figures['source_ports']} (ports used again), "
                          "and RFC 6528 leaves the ISNs of one 4-tuple to its clock alone, predictable as they may be")
    elif "lcg" in figures:
        sres.expected = f"at least {step.min_bits} bits to guess per ISN"
        raise StepFailed(
            f"each ISN follows from the previous one by a linear congruential generator, {figures['lcg']}, "
            f"recovered from three of the {n} ISNs and predicting every other exactly: nothing left to guess",
            [Mismatch("predict_bits", f">= {step.min_bits}", "0 (generator recovered)")])
    else:
        bits = figures.get("predict_bits", 0.0)
        sres.expected = f"at least {step.min_bits} bits to guess per ISN"
        if bits < step.min_bits:
            raise StepFailed(
                f"each ISN is predictable from the previous one to within {figures['predict_error_median']} "
                f"(median), i.e. {bits} bits; RFC 6528's keyed hash of the 4-tuple would leave about 31",
                [Mismatch("predict_bits", f">= {step.min_bits}", str(bits)),
                 Mismatch("sp (nmap)", "high (RFC 6528: 200+)", str(figures.get("sp")))])
    sres.message = describe(figures)


def _ports(taken: TakenSample | None) -> set[int]:
    """The target's ports the sample's connections used (the tester's, when it sent the SYNs)."""
    return {s.sport for s in taken.samples} if taken is not None else set()


def _span(taken: TakenSample | None) -> str:
    samples = taken.samples if taken is not None else ()
    return _ms(samples[-1].at - samples[0].at) if len(samples) > 1 else "no time"


def describe(f: dict[str, Any]) -> str:
    if "gcd" not in f:
        return f"{f['samples']} samples, {f['distinct']} distinct ISNs"
    return (f"{f['samples']} samples from ports {f['source_ports']}: {f['distinct']} distinct, GCD {f['gcd']}, "
            f"ISR {f['isr']}, SP {f['sp']}, {f['predict_bits']} bits to guess per ISN")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"
