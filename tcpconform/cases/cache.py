"""Case files already validated, remembered by their exact text, so start-up does not validate again.

Validating a case file against the schema and building its cases is most of what ``tcpconform list``
and the start of every run cost (the matrix table alone expands into 68 cases).  The result of
loading a file depends only on the file's name as given (it is in every ``file:line``), its text and
the code that loads it; so a file whose text and loader are unchanged since it last loaded without
mistakes is read back from the cache instead.  Files with mistakes are never cached: their messages
are always computed afresh.

The key covers the Python version and every source file of the package by name, size and
modification time, so any change to the code (an edit, an upgrade, a checkout) starts a new cache.
The cache lives in ``$XDG_CACHE_HOME/tcpconform`` (``~/.cache/tcpconform``); ``TCPC_CASE_CACHE=off``
switches it off, and a cache that cannot be read or written is simply not used.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

KEEP = 1000
"""Entries kept; beyond this the oldest half goes (each edit of a case file adds one)."""


@cache
def directory() -> Path | None:
    """Where entries live, or ``None`` when the cache is switched off."""
    if os.environ.get("TCPC_CASE_CACHE", "").lower() in ("off", "0", "no"):
        return None
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root, "tcpconform", "cases")


@cache
def code_fingerprint() -> bytes:
    """Python's version and the package's source files (name, size, modification time)."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(sys.version.encode())
    for path in sorted(package.rglob("*")):
        if path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
            st = path.stat()
            digest.update(f"{path.relative_to(package)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.digest()


def _entry(file: str, text: str) -> Path | None:
    where = directory()
    if where is None:
        return None
    digest = hashlib.sha256(code_fingerprint())
    digest.update(file.encode("utf-8", "surrogateescape") + b"\0" + text.encode("utf-8", "surrogateescape"))
    return where / f"{digest.hexdigest()}.pickle"


def get(file: str, text: str) -> list[Any] | None:
    """The cases ``file`` with this ``text`` loaded to, if remembered."""
    entry = _entry(file, text)
    if entry is None:
        return None
    try:
        with open(entry, "rb") as fh:
            cases = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        return None  # absent, or written by something else: load the file
    return cases if isinstance(cases, list) else None


def put(file: str, text: str, cases: list[Any]) -> None:
    """Remember what ``file`` with this ``text`` loaded to; silently nothing where the cache cannot be written."""
    entry = _entry(file, text)
    if entry is None:
        return
    with contextlib.suppress(OSError, pickle.PicklingError, TypeError, AttributeError):
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(cases, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, entry)  # whole or not at all: a reader never sees half an entry
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _prune(entry.parent)


def _prune(where: Path) -> None:
    entries = list(where.glob("*.pickle"))
    if len(entries) <= KEEP:
        return
    entries.sort(key=lambda p: p.stat().st_mtime)
    for old in entries[: len(entries) // 2]:
        with contextlib.suppress(OSError):
            old.unlink()
