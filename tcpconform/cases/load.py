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
from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml

from tcpconform.cases import cache as casecache
from tcpconform.cases import matrix
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


def load_cases(paths: Iterable[str | os.PathLike[str]]) -> list[TestCase]:
    """Load case files and folders (searched recursively for ``*.yaml``/``*.yml``, in path order).

    Ids must be unique across everything loaded, since reports and selections name cases by id.
    Raises :class:`CaseFileError` with the mistakes of every file.
    """
    cases: list[TestCase] = []
    errors: list[LoadError] = []
    first: dict[str, TestCase] = {}
    for file in _case_files(paths, errors):
        found, errs = _load_file(file)
        errors.extend(errs)
        for case in found:
            if case.id in first:
                other = first[case.id].loc
                errors.append(LoadError(file, case.loc.line, None, "id",
                                        f"duplicate case id {case.id!r}: also used by {other}"))
                continue
            first[case.id] = case
            cases.append(case)
    if errors:
        raise CaseFileError(errors)
    return cases


def _case_files(paths: Iterable[str | os.PathLike[str]], errors: list[LoadError]) -> Iterator[str]:
    """Files as given, folders expanded; each file once even if named twice."""
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = [p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()
                     and not any(part.startswith(".") for part in p.relative_to(path).parts)]
            files = [str(p) for p in sorted(found)]
        elif path.exists():
            files = [os.fspath(given)]
        else:
            errors.append(LoadError(os.fspath(given), None, None, "", "no such file or folder"))
            continue
        for file in files:
            key = Path(file).resolve()
            if key not in seen:
                seen.add(key)
                yield file


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser where PyYAML was built with it (five times faster; the same nodes and positions)."""


def _failed(file: str, message: str, line: int | None = None, column: int | None = None) -> Loaded:
    """No cases, and one mistake of the file as a whole (``line``/``column`` where known)."""
    return [], [LoadError(file, line, column, "", message)]


MAX_CHARS = 1_000_000
"""The longest case file read (characters): fifty times the bundled matrix table."""
MAX_DEPTH = 32
"""The deepest nesting of mappings and lists in a case file (the matrix table needs 7)."""
MAX_NODES = 200_000
"""The most YAML nodes in a case file (the matrix table has about 3,000)."""


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


def _load_file(file: str) -> Loaded:
    """The cases of a file (none when it has mistakes) and its mistakes."""
    try:
        with open(file, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        return failed(file, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
    except OSError as exc:
        return failed(file, f"cannot read the file: {exc.strerror or exc}")
    remembered = casecache.get(file, text)
    if remembered is not None:
        return remembered, []
    cases, errors = _parse_file(file, text)
    if not errors:
        casecache.put(file, text, cases)
    return cases, errors


def _parse_file(file: str, text: str) -> Loaded:
    """What :func:`_load_file` gives for a file's text, computed: YAML, schema, cases."""
    if len(text) > MAX_CHARS:
        return failed(file, f"the file has {len(text):,} characters; a case file has at most {MAX_CHARS:,} "
                      "(the bundled matrix table has about 21,000)")
    try:
        root = yaml.compose(text, Loader=_YAML_LOADER)
    except yaml.MarkedYAMLError as exc:
        return failed(file, *yaml_error(exc))
    except yaml.YAMLError as exc:
        return failed(file, f"YAML syntax error: {exc}")
    except RecursionError:
        return failed(file, f"nested too deeply: a case file nests at most {MAX_DEPTH} levels")
    shape = _shape_error(root)
    if shape is not None:
        return failed(file, *shape)
    if root is None:
        return failed(file, "the file is empty: a case file is a mapping with id, title, requirements and steps", 1)
    if not isinstance(root, yaml.MappingNode):
        kind = "a list" if isinstance(root, yaml.SequenceNode) else "a single value"
        return failed(file, "a case file is a mapping (id: ..., title: ..., steps: ...) or a matrix table "
                      f"(matrix: ...), not {kind}", root.start_mark.line + 1, root.start_mark.column + 1)
    if matrix.is_table(root):
        return matrix.expand(file, text, root)
    doc = Document(file, text, root)
    for problem in case_schema.problems(doc.data):
        doc.error(problem.path, problem.message, key=problem.key)
    case = CaseBuilder(doc).build()
    errors = doc.sorted_errors()
    return ([] if errors or case is None else [case]), errors
