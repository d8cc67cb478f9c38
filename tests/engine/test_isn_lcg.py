"""Recovering a linear congruential ISN generator from a sample (engine/isn.py:lcg_fit): every one
is found, whatever its multiplier and increment, and RFC 6528's hashed ISNs never fit one."""

from __future__ import annotations

import hashlib
import itertools

from hypothesis import given
from hypothesis import strategies as st

from tcpconform.engine.isn import LCG_MAX_CANDIDATES, LCG_MIN_SAMPLES, IsnSample, isn_figures, lcg_fit

MASK = 0xFFFFFFFF


def run(a: int, c: int, seed: int, n: int) -> list[int]:
    out = [seed]
    for _ in range(n - 1):
        out.append((a * out[-1] + c) & MASK)
    return out


@given(st.integers(0, MASK), st.integers(0, MASK), st.integers(0, MASK), st.integers(LCG_MIN_SAMPLES, 40))
def test_a_generator_is_recovered_and_predicts_the_sample(a: int, c: int, seed: int, n: int) -> None:
    isns = run(a, c, seed, n)
    fit = lcg_fit(isns)
    diffs = [(y - x) & MASK for x, y in itertools.pairwise(isns)][:-1]
    if not any(d % LCG_MAX_CANDIDATES for d in diffs):
        return  # constant, or every difference a multiple of 2^16: the rate figures judge those
    assert fit is not None
    assert run(*fit, seed, n) == isns


def test_the_c_library_generator_and_a_counter_are_found() -> None:
    assert lcg_fit(run(1103515245, 12345, 7, 40)) == (1103515245, 12345)
    assert lcg_fit(run(1, 64000, 99, 10)) == (1, 64000)
    assert lcg_fit(run(1103515245, 12345, 7, LCG_MIN_SAMPLES - 1)) is None  # too few to be sure


@given(st.binary(min_size=4, max_size=16))
def test_rfc6528_isns_fit_no_generator(secret: bytes) -> None:
    isns = [(250_000 * i // 50 + int.from_bytes(hashlib.blake2s(f"{port}".encode(), key=secret, digest_size=4).digest(),
                                                    "big")) & MASK for i, port in enumerate(range(40001, 40041))]
    assert lcg_fit(isns) is None


def test_the_figures_name_the_generator_and_leave_nothing_to_guess() -> None:
    samples = [IsnSample(at=0.02 * i, sport=40001 + i, isn=x) for i, x in enumerate(run(1103515245, 12345, 7, 40))]
    figures = isn_figures(samples)
    assert figures["lcg"] == "ISN' = 1103515245 * ISN + 12345 mod 2^32"
    assert figures["predict_bits"] == 0.0
