"""House rules, checked: ruff and ``mypy --strict`` clean, modules of a readable size, the package marked as typed.

The rules on imports are in ``test_imports.py``; that ``pip install .`` installs everything, in
``test_packaging.py``.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 500


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed (pip install -e '.[dev]')")
def test_ruff_is_clean() -> None:
    done = subprocess.run(["ruff", "check", "--output-format", "concise", "."], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy not installed (pip install -e '.[dev]')")
def test_mypy_strict_is_clean() -> None:
    """``mypy`` as configured in pyproject.toml (``strict``, on ``tcpconform/``) reports no error."""
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--no-error-summary"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_modules_stay_readable() -> None:
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "tcpconform").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these modules (over {MAX_LINES} lines): {long}"


def test_the_package_is_marked_typed() -> None:
    assert (ROOT / "tcpconform" / "py.typed").is_file()
