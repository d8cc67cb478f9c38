"""Properties of the loader over inputs nobody wrote by hand: arbitrary text, arbitrary YAML data
(case-shaped or not), and mutants of the bundled files.  Whatever goes in, loading ends in cases a
run can honour (:mod:`tcpconform.bench.case_audit`) or in a CaseFileError, and every mistake of a
file that has lines says which line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st

from tcpconform.bench.case_audit import impossible
from tcpconform.bench.mutations import mutant
from tcpconform.cases import cache as casecache
from tcpconform.cases.build import STEP_KINDS
from tcpconform.cases.document import CaseFileError
from tcpconform.cases.load import load_cases
from tcpconform.cases.model import TestCase


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where examples are written; the case cache is off, so every example is really loaded."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TCPC_CASE_CACHE", "off")
    casecache.directory.cache_clear()
    yield tmp_path_factory.mktemp("properties")
    mp.undo()
    casecache.directory.cache_clear()


def loads_as_promised(folder: Path, data: bytes) -> list[TestCase]:
    """Load ``data`` as a case file: cases, or a CaseFileError whose every mistake has a line."""
    path = folder / "example.yaml"
    path.write_bytes(data)
    try:
        cases = load_cases([path])
    except CaseFileError as exc:
        assert exc.errors
        for error in exc.errors:
            assert error.file == str(path)
            assert error.line is not None and error.line >= 1, error
            assert error.message
        return []
    for case in cases:
        assert case.steps and case.requirements
    assert impossible(cases) is None  # accepted: so a run can honour it
    return cases


@given(st.text(max_size=300))
def test_any_text(folder: Path, text: str) -> None:
    loads_as_promised(folder, text.encode("utf-8", "surrogatepass"))


@given(st.binary(max_size=300))
def test_any_bytes(folder: Path, data: bytes) -> None:
    loads_as_promised(folder, data)


KEYS = ("id", "title", "requirements", "steps", "faults", "no_fault", "tester", "numbering", "level", "tags",
        "description", "family", "tolerate", "invariants", "needs", "ref", "rid", "text", "flags", "seq", "ack",
        "window", "len", "payload", "options", "within", "isn", "min_bits", "interval", "matrix", "states",
        "events", "cells", *STEP_KINDS)
SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=30) | st.sampled_from(["S", "S.", "P. 1:2(1) ack 1", "500ms", "MUST", "fresh-port",
                                                    "listen", "write 10", "<mss 1>", "$isn", "*", "1..2", "\x00"]))
DATA = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5), max_leaves=25)


def _dump(value: Any) -> bytes:
    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False).encode("utf-8", "surrogatepass")


@given(DATA)
def test_any_yaml_data(folder: Path, value: Any) -> None:
    loads_as_promised(folder, _dump(value))


DURATION = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 10**6) | st.sampled_from(
    ["500ms", "1s", "250us", "86400", "86401s", "0", "1e300"])
SEGMENT = st.sampled_from(["S 0:0(0) win 5000", "S. 100:100(0) ack 1", "P. 1:513(512) ack 101", ". 1:1(0) ack *",
                           "S 0:0(0) <" + ",".join(["mss 1"] * 11) + ">", "P. 1:65496(65495) ack 1",
                           "P. 1:65497(65496) ack 1"]) | st.fixed_dictionaries(
    {"flags": st.sampled_from(["S", "P.", "R", "*"])},
    optional={"seq": st.integers(-1, 2**33), "len": st.integers(-1, 70_000) | st.floats(), "payload": st.text(max_size=5),
              "dataofs": st.integers(0, 15) | st.floats(0, 15), "options": st.just("<mss 1,nop>")})
VALUE_OF = {
    "send": SEGMENT, "expect": SEGMENT, "wait": DURATION, "silence": DURATION, "isn_sample": st.integers(2, 501) | st.floats(),
    "isn_check": st.sampled_from(["clock-driven", "unpredictable"]), "reconnect": st.just("fresh-port"),
    "negotiated": st.sampled_from(["wscale", "timestamps", "ecn"]),
    "flight": st.integers(-1, 1001) | st.floats(),
    "challenge_burst": st.integers(0, 1001) | st.floats(),
    "fill_window": st.integers(-1, 1 << 25) | st.floats(),
    "slow_read": st.integers(-1, 1 << 25) | st.floats(),
    "app": st.sampled_from(["listen", "close", "write 10", "read 99999999999", "write \u00b2"])
    | st.dictionaries(st.sampled_from(["read", "write"]), st.integers(-1, 2**25) | st.floats(), min_size=1, max_size=1),
    "state": st.sampled_from(["ESTABLISHED", "LISTEN", "CLOSED"]),
    "half_open": st.integers(0, 17) | st.floats(),
    "reopen": st.sampled_from(["timestamp-newer", "sequence-above", "sequence-below"]) | st.integers(),
    "icmp": st.fixed_dictionaries(
        {"type": st.sampled_from(["frag-needed", "net-unreachable", "source-quench", "frag-neded"]) | st.integers()},
        optional={"mtu": st.sampled_from([68, 552, "minimum", 67, 70_000, "x"]), "quote": SEGMENT | st.just("last"),
                  "seq": st.integers(-(2**32), 2**32) | st.floats()}),
}
MODIFIERS = {"within": DURATION, "interval": DURATION, "min_bits": st.floats(allow_nan=True) | st.integers(-1, 40),
             "tolerate": st.just(["ack"]), "isn": st.sampled_from(["$isn", 5, "*"]),
             "at_most": st.integers(-1, 1001) | st.floats(), "trigger": st.sampled_from(["rst", "syn", "fin"]),
             "by": st.sampled_from(["syn", "connect", "accept"])}


@st.composite
def steps(draw: st.DrawFn) -> dict[str, Any]:
    """A step of some kind with a value meant for that kind (now and then anything), and modifiers."""
    kind = draw(st.sampled_from(STEP_KINDS))
    value = draw(VALUE_OF[kind] | DATA) if draw(st.integers(0, 9)) == 0 else draw(VALUE_OF[kind])
    extra = draw(st.dictionaries(st.sampled_from(sorted(MODIFIERS)), st.none(), max_size=2))
    return {kind: value, **{k: draw(MODIFIERS[k]) for k in extra}}


CASE = st.fixed_dictionaries(
    {"id": st.sampled_from(["x", "a-1"]) | st.text(max_size=5), "title": st.sampled_from(["t"]) | st.text(max_size=10),
     "requirements": st.just([{"id": "r", "ref": "RFC 9293", "level": "MUST"}]) | DATA,
     "no_fault": st.just("none applies"), "steps": st.lists(steps(), min_size=1, max_size=4)},
    optional={"tester": st.fixed_dictionaries({}, optional={"window": st.integers(-1, 70_000) | st.floats(),
                                                            "mss": st.integers(0, 70_000)}),
              "family": st.sampled_from(["ipv4", "ipv6"]), "tags": st.lists(st.text(max_size=4), max_size=2)})


@given(CASE)
def test_case_shaped_data(folder: Path, case: dict[str, Any]) -> None:
    loads_as_promised(folder, _dump(case))


@given(st.integers(0, 2**32), st.integers(0, 10**6))
def test_mutants_of_the_bundled_files(folder: Path, seed: int, index: int) -> None:
    _, _, data = mutant(seed, index)
    assume(len(data) < 100_000)  # the megabyte mutants are the campaign's (tcpconform bench --fuzz)
    loads_as_promised(folder, data)
