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
switches it off, and a cache that cannot be read or written, or an entry that is damaged, is simply
not used.
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


def package_stamp() -> bytes:
    """Python's version and every file of the package, code and data (name, size, modification
    time), the bundled cases of an installed package aside (entries are keyed by a case file's text
    already).  A few milliseconds: os.walk, no hashing of contents."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digest = hashlib.sha256(sys.version.encode())
    for root, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", "bundled_cases"))
        for name in sorted(files):
            path = os.path.join(root, name)
            try:
                st = os.stat(path)
            except OSError:  # removed while walked: the next stamp differs anyway
                continue
            digest.update(f"{os.path.relpath(path, package)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.digest()


@cache
def code_fingerprint() -> bytes:
    """:func:`package_stamp` once a process: any change to the code starts a new cache."""
    return package_stamp()


def _entry(file: str, text: str) -> Path | None:
    where = directory()
    if where is None:
        return None
    digest = hashlib.sha256(code_fingerprint())
    digest.update(file.encode("utf-8", "surrogateescape") + b"\0" + text.encode("utf-8", "surrogateescape"))
    return where / f"{digest.hexdigest()}.pickle"


MAGIC = b"tcpconform case cache 2\n"
"""What every entry starts with, then the SHA-256 of the pickle, then the pickle: of the cases' ids
and, pickled apart, the cases."""
MAX_ENTRY = 64 << 20
"""The largest entry read (bytes): a case file of the largest size the loader reads pickles to a
fraction of this (the bundled matrix table's 68 cases to 90 kB)."""


def ids(file: str, text: str) -> list[str] | None:
    """The ids of the cases ``file`` with this ``text`` loaded to, if remembered, without unpickling
    the cases themselves: a run that names its cases skips every file holding none of them (each
    entry's cases cost a millisecond or more to unpickle, its ids next to nothing)."""
    key = (os.path.abspath(file), text)
    known = _IDS.get(key)
    if known is None:
        kept = _read_entry(file, text)
        if kept is None:
            return None
        if len(_IDS) >= MAX_IDS:
            _IDS.clear()
        known = _IDS[key] = kept[0]
    return list(known)


_IDS: dict[tuple[str, str], list[str]] = {}
"""Ids already read from an entry in this process, by file (absolute) and text (so as sound as the entry): a
lab's resident tester reads the catalogue's once, and each run it forks finds them here."""
MAX_IDS = 4096
"""The most files whose ids :data:`_IDS` holds (their texts are its keys); then it starts afresh."""


def get(file: str, text: str) -> list[Any] | None:
    """The cases ``file`` with this ``text`` loaded to, if remembered.

    An entry is unpickled only once its size is within :data:`MAX_ENTRY` and its checksum matches:
    a truncated, bit-flipped or foreign file is never handed to ``pickle`` (which may raise anything
    or allocate gigabytes on bytes it did not write).  Whatever still goes wrong reading one is a
    miss, never an error: the file is then loaded as if there were no cache.
    """
    kept = _read_entry(file, text)
    if kept is None:
        return None
    try:
        cases = pickle.loads(kept[1])
    except Exception:  # written by something else: load the file
        return None
    return cases if isinstance(cases, list) else None


def _read_entry(file: str, text: str) -> tuple[list[str], bytes] | None:
    """An entry's case ids and its cases' pickle, checked (size, checksum, shape), or None."""
    entry = _entry(file, text)
    if entry is None:
        return None
    try:
        with open(entry, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_ENTRY + len(MAGIC) + 32:
                return None
            blob = fh.read(size)  # (a size changed since is caught by the checksum)
        head, digest, body = blob[:len(MAGIC)], blob[len(MAGIC):len(MAGIC) + 32], blob[len(MAGIC) + 32:]
        if head != MAGIC or hashlib.sha256(body).digest() != digest:
            return None
        kept = pickle.loads(body)
    except Exception:  # absent, unreadable, or written by something else: load the file
        return None
    if not (isinstance(kept, tuple) and len(kept) == 2 and isinstance(kept[0], list)
            and all(isinstance(i, str) for i in kept[0]) and isinstance(kept[1], bytes)):
        return None
    return kept[0], kept[1]


def put(file: str, text: str, cases: list[Any]) -> None:
    """Remember what ``file`` with this ``text`` loaded to; silently nothing where the cache cannot be written."""
    entry = _entry(file, text)
    if entry is None:
        return
    with contextlib.suppress(Exception):
        # The ids apart from the cases: ids() reads them without unpickling the cases.
        inner = pickle.dumps(cases, protocol=pickle.HIGHEST_PROTOCOL)
        body = pickle.dumps(([str(getattr(c, "id", "")) for c in cases], inner), protocol=pickle.HIGHEST_PROTOCOL)
        if len(body) > MAX_ENTRY:
            return
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(MAGIC + hashlib.sha256(body).digest() + body)
            os.replace(tmp, entry)  # whole or not at all: a reader never sees half an entry
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        if entry.parent not in _pruned:  # once a process: a cold load puts an entry per file
            _pruned.add(entry.parent)
            _prune(entry.parent)


_pruned: set[Path] = set()
"""Cache folders this process has pruned already."""


def _prune(where: Path) -> None:
    entries = list(where.glob("*.pickle"))
    if len(entries) <= KEEP:
        return
    entries.sort(key=lambda p: p.stat().st_mtime)
    for old in entries[: len(entries) // 2]:
        with contextlib.suppress(OSError):
            old.unlink()
