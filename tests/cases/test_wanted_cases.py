"""``load_cases(wanted=...)``: cached files holding no wanted case are left out, and the mistakes
found are the same as without it (a duplicate id in a file left out is still one)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tcpconform.cases import cache as casecache
from tcpconform.cases.document import CaseFileError
from tcpconform.cases.load import load_cases
from tests.cases.test_case_cache import CASE


@pytest.fixture()
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TCPC_CASE_CACHE", raising=False)
    casecache.directory.cache_clear()
    yield tmp_path
    casecache.directory.cache_clear()


def _files(where: Path, *ids: str) -> list[Path]:
    paths = []
    for n, rid in enumerate(ids):
        path = where / f"{n}-{rid}.yaml"
        path.write_text(CASE.replace("cached-one", rid))
        paths.append(path)
    return paths


def test_only_files_with_a_wanted_case_are_unpickled(cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = cache_home / "cases"
    folder.mkdir()
    _files(folder, "alpha", "beta", "gamma")
    assert [c.id for c in load_cases([folder])] == ["alpha", "beta", "gamma"]  # now all cached
    got: list[str] = []
    real = casecache.get
    monkeypatch.setattr(casecache, "get", lambda file, text: got.append(file) or real(file, text))
    assert [c.id for c in load_cases([folder], lambda i: i == "beta")] == ["beta"]
    assert [Path(f).name for f in got] == ["1-beta.yaml"]


def test_a_duplicate_in_a_file_left_out_is_still_reported(cache_home: Path) -> None:
    folder = cache_home / "cases"
    folder.mkdir()
    first, second = _files(folder, "same", "other")
    load_cases([first])  # cached
    second.write_text(CASE.replace("cached-one", "same"))
    with pytest.raises(CaseFileError) as err:
        load_cases([folder], lambda i: i == "same")
    assert "duplicate case id 'same'" in str(err.value) and f"{first}:1" in str(err.value)
