"""Fixtures of the loader tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Write a case file under ``cases/`` and return its path relative to the working folder."""
    monkeypatch.chdir(tmp_path)

    def write(text: str, name: str = "x.yaml") -> str:
        path = Path("cases") / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write
