"""The cache of validated case files: a hit gives what loading gives, and nothing stale or wrong
ever comes out of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tcpconform.cases import cache as casecache
from tcpconform.cases import load as loader
from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.document import CaseFileError
from tcpconform.cases.load import load_cases

CASE = """\
id: cached-one
title: "A case to cache"
requirements:
  - {id: r, ref: RFC 9293 3.5, level: MUST, text: "x"}
faults: [ignore-fin]
steps:
  - app: listen
  - send: "S 0:0(0) win 5000"
  - expect: "S. 0:0(0) ack 1"
"""


@pytest.fixture()
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TCPC_CASE_CACHE", raising=False)
    casecache.directory.cache_clear()
    yield tmp_path / "cache" / "tcpconform" / "cases"
    casecache.directory.cache_clear()


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(file: str, text: str) -> object:
        raise AssertionError(f"{file} was parsed, not read from the cache")

    monkeypatch.setattr(loader, "_parse_file", refuse)


def test_the_catalogue_from_the_cache_equals_the_catalogue_loaded(cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = load_cases([bundled_cases()])
    assert len(list(cache_home.glob("*.pickle"))) == len(list(Path(bundled_cases()).rglob("*.yaml")))
    _no_parsing(monkeypatch)
    again = load_cases([bundled_cases()])
    assert again == loaded
    assert [c.loc for c in again] == [c.loc for c in loaded]  # file:line of every case, as loaded


def test_a_changed_file_is_loaded_again(cache_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CASE)
    assert load_cases([path])[0].title == "A case to cache"
    path.write_text(CASE.replace("A case to cache", "Changed"))
    assert load_cases([path])[0].title == "Changed"


def test_a_file_with_mistakes_is_never_cached(cache_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CASE.replace("expect:", "expcet:"))
    for _ in range(2):
        with pytest.raises(CaseFileError, match=r"c.yaml:\d+"):
            load_cases([path])
    assert not list(cache_home.glob("*.pickle"))


def test_changed_code_does_not_read_old_entries(cache_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CASE)
    load_cases([path])
    monkeypatch.setattr(casecache, "code_fingerprint", lambda: b"another version of the loader")
    _no_parsing(monkeypatch)
    with pytest.raises(AssertionError, match="was parsed"):
        load_cases([path])


def test_the_same_text_under_another_name_is_its_own_entry(cache_home: Path, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(CASE)
    (tmp_path / "b.yaml").write_text(CASE.replace("cached-one", "cached-two"))
    load_cases([tmp_path / "a.yaml"])
    (tmp_path / "b.yaml").write_text(CASE)
    (case,) = load_cases([tmp_path / "b.yaml"])
    assert case.loc.file.endswith("b.yaml")  # not a.yaml's entry: the name is in every file:line


def test_a_cache_that_cannot_be_written_or_read_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    casecache.directory.cache_clear()
    try:
        path = tmp_path / "c.yaml"
        path.write_text(CASE)
        assert load_cases([path])[0].id == "cached-one"
        assert load_cases([path])[0].id == "cached-one"
    finally:
        casecache.directory.cache_clear()


def test_a_damaged_entry_is_loaded_past(cache_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CASE)
    load_cases([path])
    (entry,) = cache_home.glob("*.pickle")
    entry.write_bytes(b"not a pickle")
    assert load_cases([path])[0].id == "cached-one"


def test_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TCPC_CASE_CACHE", "off")
    casecache.directory.cache_clear()
    try:
        assert casecache.directory() is None
    finally:
        casecache.directory.cache_clear()


def test_no_damage_to_an_entry_reaches_pickle(cache_home: Path, tmp_path: Path) -> None:
    """Truncated, bit-flipped or foreign entries are misses: pickle on such bytes raises anything
    (MemoryError, OverflowError...) or allocates what a length field claims."""
    import random

    path = tmp_path / "c.yaml"
    path.write_text(CASE)
    (want,) = load_cases([path])
    (entry,) = cache_home.glob("*.pickle")
    good = entry.read_bytes()
    rng = random.Random(7)
    for i in range(300):
        bad = bytearray(good)
        if i % 3 == 0:
            bad = bad[: rng.randrange(len(bad))]
        elif i % 3 == 1:
            for _ in range(rng.randint(1, 4)):
                bad[rng.randrange(len(bad))] ^= 1 << rng.randrange(8)
        else:
            bad = bytearray(casecache.MAGIC + rng.randbytes(rng.randrange(200)))
        entry.write_bytes(bytes(bad))
        assert load_cases([path]) == [want]


@pytest.mark.parametrize("raised", [MemoryError, OverflowError, RecursionError, KeyError, SystemError])
def test_whatever_unpickling_raises_is_a_miss(cache_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              raised: type[Exception]) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CASE)
    load_cases([path])

    def explode(data: bytes) -> object:
        raise raised("from unpickling")

    monkeypatch.setattr(casecache.pickle, "loads", explode)
    monkeypatch.setattr(casecache.pickle, "load", explode)
    assert load_cases([path])[0].id == "cached-one"


def test_an_entry_too_big_is_not_read(cache_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CASE)
    load_cases([path])
    (entry,) = cache_home.glob("*.pickle")
    with entry.open("r+b") as fh:
        fh.truncate(4 << 30)  # sparse: 4 GiB claimed, nothing allocated
    assert casecache.get(str(path), CASE) is None
    assert load_cases([path])[0].id == "cached-one"
