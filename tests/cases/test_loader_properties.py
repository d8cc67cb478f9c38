"""Properties of the loader over inputs nobody wrote by hand: arbitrary text, arbitrary YAML data
(case-shaped or not), and mutants of the bundled files.  Whatever goes in, loading ends in cases or
in a CaseFileError, and every mistake of a file that has lines says which line."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st

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
        assert all(math.isfinite(getattr(s, "duration", 0.0)) for s in case.steps)
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


STEP = st.builds(lambda kind, value, extra: {kind: value, **extra}, st.sampled_from(STEP_KINDS), DATA,
                 st.dictionaries(st.sampled_from(["within", "tolerate", "rfc", "isn", "min_bits", "interval"]),
                                 SCALARS, max_size=2))
CASE = st.fixed_dictionaries(
    {"id": st.sampled_from(["x", "a-1"]) | st.text(max_size=5), "title": st.text(max_size=10),
     "requirements": st.just([{"id": "r", "ref": "RFC 9293", "level": "MUST"}]) | DATA,
     "no_fault": st.just("none applies"), "steps": st.lists(STEP, min_size=1, max_size=5)},
    optional={"tester": DATA, "numbering": DATA, "family": SCALARS, "tags": DATA})


@given(CASE)
def test_case_shaped_data(folder: Path, case: dict[str, Any]) -> None:
    loads_as_promised(folder, _dump(case))


@given(st.integers(0, 2**32), st.integers(0, 10**6))
def test_mutants_of_the_bundled_files(folder: Path, seed: int, index: int) -> None:
    _, _, data = mutant(seed, index)
    assume(len(data) < 100_000)  # the megabyte mutants are the campaign's (tcpconform bench --fuzz)
    loads_as_promised(folder, data)
