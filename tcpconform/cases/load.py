"""Case files (YAML) -> validated :class:`~tcpconform.cases.model.TestCase` objects: discovery,
reading, the validated-case cache, and parsing.

A case file is written by hand, so every mistake is reported as ``file:line:column: field: what``
(:mod:`.document`), and all mistakes of a file (and of every file, for :func:`load_cases`) are
reported at once rather than one per run.  Checking happens in two passes: the JSON Schema
(:mod:`tcpconform.cases.schema`) for structure, then the meaning (:mod:`.build`).  A matrix table
(:mod:`.matrix`) goes through the same two passes once per generated case.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import yaml

from tcpconform.cases import cache as casecache
from tcpconform.cases import matrix, packetdrill
from tcpconform.cases import schema as case_schema
from tcpconform.cases.build import CaseBuilder
from tcpconform.cases.document import CaseFileError, Document, Loaded, LoadError, failed, yaml_error
from tcpconform.cases.model import TestCase

__all__ = ["load_case", "load_cases", "load_file"]


def load_case(path: str | os.PathLike[str]) -> TestCase:
    """Load one case file; raise :class:`CaseFileError` listing all its mistakes.

    A matrix table holds many cases, so it is refused here (say so, rather than pick one): use
    :func:`load_file` or :func:`load_cases`.
    """
    file = os.fspath(path)
    cases, errors = _load_file(file)
    if errors:
        raise CaseFileError(errors)
    if len(cases) != 1:
        raise CaseFileError([LoadError(file, 1, 1, "matrix", f"a matrix table ({len(cases)} cases), not "
                                                             "a case file: load it with load_file or load_cases")])
    return cases[0]


def load_file(path: str | os.PathLike[str]) -> list[TestCase]:
    """The cases of one file: one for a case file, one per cell for a matrix table (:mod:`.matrix`)."""
    cases, errors = _load_file(os.fspath(path))
    if errors:
        raise CaseFileError(errors)
    return cases


def load_cases(paths: Iterable[str | os.PathLike[str]], wanted: Callable[[str], bool] | None = None) -> list[TestCase]:
    """Load case files and folders (searched recursively for ``*.yaml``/``*.yml`` and packetdrill
    ``*.pkt`` scripts, in path order).

    Ids must be unique across everything loaded, since reports and selections name cases by id.
    Raises :class:`CaseFileError` with the mistakes of every file.  With ``wanted`` (a test of an
    id), a file the cache remembers is left out when it holds no wanted case: its ids still count
    towards uniqueness, so the mistakes found are the same; only what is returned is fewer cases.
    """
    cases: list[TestCase] = []
    errors: list[LoadError] = []
    first: dict[str, TestCase | str] = {}
    for file in _case_files(paths, errors):
        skipped = _unwanted(file, wanted) if wanted is not None else None
        if skipped is not None:
            for rid in skipped:
                first.setdefault(rid, file)  # a duplicate within them was refused when they were cached
            continue
        found, errs = _load_file(file)
        errors.extend(errs)
        for case in found:
            if case.id in first:
                other = first[case.id]
                where = other.loc if isinstance(other, TestCase) else _where(other, case.id)
                errors.append(LoadError(file, case.loc.line, None, "id",
                                        f"duplicate case id {case.id!r}: also used by {where}"))
                continue
            first[case.id] = case
            cases.append(case)
    if errors:
        raise CaseFileError(errors)
    return cases


def _unwanted(file: str, wanted: Callable[[str], bool]) -> list[str] | None:
    """The ids of ``file`` if the cache remembers it and none of them is ``wanted``, else None."""
    text = _read(file)
    ids = casecache.ids(file, text) if isinstance(text, str) else None
    return ids if ids is not None and not any(wanted(i) for i in ids) else None


def _where(file: str, rid: str) -> object:
    """Where case ``rid`` of a file left out is (its ``file:line``), for the message about a duplicate."""
    return next((c.loc for c in _load_file(file)[0] if c.id == rid), file)


CASE_SUFFIXES = (".yaml", ".yml", packetdrill.SUFFIX)
"""The files a folder of cases is searched for: YAML cases and tables, and packetdrill scripts (:mod:`.packetdrill`)."""


def _case_files(paths: Iterable[str | os.PathLike[str]], errors: list[LoadError]) -> Iterator[str]:
    """Files as given, folders expanded (in the order of their paths' parts, hidden ones left out);
    each file once even if named twice (by device and inode: one ``stat`` a file)."""
    seen: set[tuple[int, int]] = set()
    for given in paths:
        name = os.fspath(given)
        if os.path.isdir(name):
            files = _folder_files(name)
        elif os.path.exists(name):
            files = [name]
        else:
            errors.append(LoadError(name, None, None, "", "no such file or folder"))
            continue
        for file in files:
            try:
                info = os.stat(file)
            except OSError:
                key = (-1, hash(os.path.realpath(file)))
            else:
                key = (info.st_dev, info.st_ino)
            if key not in seen:
                seen.add(key)
                yield file


def _folder_files(folder: str) -> list[str]:
    """The case files under ``folder`` (not under a hidden folder, not hidden; folders reached by a
    symbolic link not entered), sorted as paths are."""
    found: list[tuple[tuple[str, ...], str]] = []
    pending: list[tuple[str, tuple[str, ...]]] = [(str(Path(folder)), ())]
    while pending:
        top, rel = pending.pop()
        try:
            entries = list(os.scandir(top))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                pending.append((entry.path, (*rel, entry.name)))
            elif os.path.splitext(entry.name)[1] in CASE_SUFFIXES and entry.is_file():
                found.append(((*rel, entry.name), entry.path))
    return [full for _, full in sorted(found)]


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser where PyYAML was built with it (five times faster; the same nodes and positions)."""


MAX_CHARS = 1_000_000
"""The longest case file read (characters): fifty times the bundled matrix table."""
MAX_DEPTH = 32
"""The deepest nesting of mappings and lists in a case file (the matrix table needs 7)."""
MAX_NODES = 50_000
"""The most YAML nodes in a case file (the matrix table has about 3,000): composing that many takes
a third of a second."""
MAX_STEPS = 1_000
"""The most steps of a case (the longest bundled one has 24); each costs a schema check."""
MAX_TABLE_STEPS = 20_000
"""The most steps a matrix table may generate, over all its cells (the bundled table: about 600)."""


def _shape_error(root: yaml.Node | None) -> tuple[str, int, int] | None:
    """What makes a composed file unfit to be read further, with where: an alias (``*name``: a node
    met twice, which expanded could make a few hundred bytes into gigabytes, and means nothing a
    case needs), nesting beyond :data:`MAX_DEPTH`, more than :data:`MAX_NODES` nodes.  Walked without
    recursion, each node once."""
    if root is None:
        return None
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        where = (node.start_mark.line + 1, node.start_mark.column + 1)
        if id(node) in seen:
            return ("the value here is used again through an alias: YAML anchors and aliases (&name, *name) "
                    "are not allowed in case files; write the value out", *where)
        seen.add(id(node))
        if depth > MAX_DEPTH:
            return (f"nested more than {MAX_DEPTH} levels deep", *where)
        if len(seen) > MAX_NODES:
            return (f"more than {MAX_NODES:,} values: too big for a case file", *where)
        if isinstance(node, yaml.MappingNode):
            stack.extend((child, depth + 1) for pair in node.value for child in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
    return None


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    """The value of ``key`` in a mapping node (the last one, as YAML keeps), else ``None``."""
    if not isinstance(node, yaml.MappingNode):
        return None
    found = [v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key]
    return found[-1] if found else None


def _size_error(root: yaml.MappingNode) -> tuple[str, int, int] | None:
    """More steps than a case (:data:`MAX_STEPS`) or a table (:data:`MAX_TABLE_STEPS`) may have, at
    the first step beyond: counted on the nodes, before any is validated, since validating them is
    what takes the time."""
    def at(node: yaml.Node) -> tuple[int, int]:
        return node.start_mark.line + 1, node.start_mark.column + 1

    table = _child(root, matrix.MATRIX_KEY)
    if table is None:
        steps = _child(root, "steps")
        if isinstance(steps, yaml.SequenceNode) and len(steps.value) > MAX_STEPS:
            return f"more than {MAX_STEPS:,} steps: too many for a case", *at(steps.value[MAX_STEPS])
        return None
    states, cells = _child(table, "states"), _child(table, "cells")
    if not isinstance(states, yaml.MappingNode) or not isinstance(cells, yaml.MappingNode):
        return None
    total = 0
    for state_key, row in cells.value:
        steps = _child(_child(states, getattr(state_key, "value", "")), "steps")
        count = len(steps.value) if isinstance(steps, yaml.SequenceNode) else 0
        if count > MAX_STEPS and steps is not None:
            return f"more than {MAX_STEPS:,} steps: too many for a case", *at(steps.value[MAX_STEPS])
        for _, cell in row.value if isinstance(row, yaml.MappingNode) else ():
            total += count + 3  # the state's steps, the probe, the response, the state check
            if total > MAX_TABLE_STEPS:
                return (f"the table's cells make more than {MAX_TABLE_STEPS:,} steps in all: too many for one "
                        "table (split it)", *at(cell))
    return None


def _load_file(file: str) -> Loaded:
    """The cases of a file (none when it has mistakes) and its mistakes."""
    text = _read(file)
    if not isinstance(text, str):
        return text
    remembered = casecache.get(file, text)
    if remembered is not None:
        return remembered, []
    cases, errors = _parse_file(file, text)
    if not errors:
        casecache.put(file, text, cases)
    return cases, errors


MAX_BYTES = 4 * MAX_CHARS
"""The most bytes read of a file: :data:`MAX_CHARS` characters of four UTF-8 bytes each, so a huge
file, or a device that never ends, costs no more than that."""
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _read_at_most(fh: BinaryIO, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``fh``, in one read for a regular file (``read(limit)`` alone would
    allocate ``limit`` bytes whatever the file's size)."""
    try:
        size = os.fstat(fh.fileno()).st_size
    except (OSError, ValueError):
        size = 0
    data = fh.read(min(size + 1, limit))
    if len(data) > size and len(data) < limit:  # grown since, or not a regular file: the rest
        data += fh.read(limit - len(data))
    return data


def _read(file: str) -> str | Loaded:
    """The file's text (newlines as Python's text mode gives them), or its one mistake: unreadable,
    too big, not UTF-8 (with the line and column of the first bad byte)."""
    try:
        with open(file, "rb") as fh:
            data = _read_at_most(fh, MAX_BYTES + 1)
    except OSError as exc:
        return failed(file, f"cannot read the file: {exc.strerror or exc}")
    if len(data) > MAX_BYTES:
        head = _newlines(data[:MAX_BYTES].decode("utf-8", "replace"))
        return failed(file, f"the file goes on beyond {MAX_BYTES:,} bytes; a case file has at most {MAX_CHARS:,} "
                      "characters (the bundled matrix table has about 21,000)", *position(head, len(head)))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        hint = " (it looks like UTF-16: save it as UTF-8)" if data.startswith(_UTF16_BOMS) else ""
        head = _newlines(data[:exc.start].decode("utf-8"))
        return failed(file, f"not UTF-8 text ({exc.reason} at byte {exc.start}){hint}", *position(head, len(head)))
    return _newlines(text)


def _newlines(text: str) -> str:
    """Line ends as Python's text mode reads them (``\\r\\n`` and ``\\r`` become ``\\n``), as YAML counts lines."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def position(text: str, index: int) -> tuple[int, int]:
    """The 1-based line and column of character ``index`` of ``text`` (lines end at ``\\n``)."""
    index = max(0, min(index, len(text)))
    start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - start + 1


_NOT_YAML = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""The characters YAML does not allow anywhere in a stream (YAML 1.1 5.1, PyYAML's reader)."""


def _not_yaml(file: str, text: str) -> Loaded | None:
    """The first character YAML refuses, where it is: libyaml says only "position N" (in bytes)."""
    m = _NOT_YAML.search(text)
    if m is None:
        return None
    char = m[0]
    name = unicodedata.name(char, "a control character") if ord(char) >= 0x20 else "a control character"
    return failed(file, f"the character U+{ord(char):04X} ({name}) is not allowed in a YAML file: remove it",
                  *position(text, m.start()))


def _event_shape(text: str) -> tuple[str, int, int] | None:
    """:func:`_shape_error` judged from the parser's events, before a single node is built: composing
    costs ten times parsing (every scalar's tag is resolved in Python) and recurses once per level."""
    depth = nodes = 0
    for event in yaml.parse(text, Loader=_YAML_LOADER):
        if not isinstance(event, yaml.NodeEvent):
            if isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            continue
        mark = event.start_mark
        where = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        nodes += 1
        if isinstance(event, yaml.AliasEvent):
            return (f"*{event.anchor} uses a value again through an alias: YAML anchors and aliases (&name, *name) "
                    "are not allowed in case files; write the value out", *where)
        if nodes > MAX_NODES:
            return (f"more than {MAX_NODES:,} values: too big for a case file", *where)
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return (f"nested more than {MAX_DEPTH} levels deep", *where)
    return None


def _parse_file(file: str, text: str) -> Loaded:
    """What :func:`_load_file` gives for a file's text, computed: YAML, schema, cases; a ``.pkt``
    file is a packetdrill script instead (:mod:`.packetdrill`)."""
    if len(text) > MAX_CHARS:
        return failed(file, f"the file has {len(text):,} characters; a case file has at most {MAX_CHARS:,} "
                      "(the bundled matrix table has about 21,000)", *position(text, MAX_CHARS))
    if file.endswith(packetdrill.SUFFIX):
        return packetdrill.load_script(file, text)
    refused = _not_yaml(file, text)
    if refused is not None:
        return refused
    try:
        shape = _event_shape(text)
        if shape is not None:
            return failed(file, *shape)
        root = yaml.compose(text, Loader=_YAML_LOADER)
    except yaml.MarkedYAMLError as exc:
        return failed(file, *yaml_error(exc))
    except yaml.reader.ReaderError as exc:  # what _not_yaml did not foresee: libyaml counts bytes, PyYAML characters
        at = exc.position
        if _YAML_LOADER is not yaml.SafeLoader:
            at = len(text.encode("utf-8")[:at].decode("utf-8", "ignore"))
        return failed(file, f"YAML syntax error: {exc.reason} (character U+{exc.character:04X})", *position(text, at))
    except yaml.YAMLError as exc:
        return failed(file, f"YAML syntax error: {exc}")
    shape = _shape_error(root)
    if shape is not None:
        return failed(file, *shape)
    if root is None:
        return failed(file, "the file is empty: a case file is a mapping with id, title, requirements and steps", 1)
    if not isinstance(root, yaml.MappingNode):
        kind = "a list" if isinstance(root, yaml.SequenceNode) else "a single value"
        return failed(file, "a case file is a mapping (id: ..., title: ..., steps: ...) or a matrix table "
                      f"(matrix: ...), not {kind}", root.start_mark.line + 1, root.start_mark.column + 1)
    size = _size_error(root)
    if size is not None:
        return failed(file, *size)
    if matrix.is_table(root):
        return matrix.expand(file, text, root)
    doc = Document(file, text, root)
    for problem in case_schema.problems(doc.data):
        doc.error(problem.path, problem.message, key=problem.key)
    case = CaseBuilder(doc).build()
    errors = doc.sorted_errors()
    return ([] if errors or case is None else [case]), errors
