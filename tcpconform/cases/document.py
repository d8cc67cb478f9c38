"""A composed case file with the position of every node, and the error model of case files.

A case file is written by hand, so every mistake is reported as ``file:line:column: field: what``.
To know lines, the file is composed with PyYAML (``yaml.compose``): the node tree keeps the
position of every key and value, and :class:`Document` builds the plain data the schema validates
from that tree, so any path the schema or a later check complains about leads back to a node and
its line.  :class:`Document` only records mistakes; reading files and raising is :mod:`.load`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from tcpconform.cases.model import TestCase
from tcpconform.errors import UsageError

__all__ = [
    "CaseFileError",
    "Document",
    "LoadError",
    "Loaded",
    "PathKey",
    "Path_",
    "failed",
    "field_path",
    "yaml_error",
]

PathKey = str | int
Path_ = tuple[PathKey, ...]
"""Where a value is in a document: mapping keys and list indexes from the root."""


@dataclass(frozen=True, slots=True)
class LoadError:
    """One mistake in a case file; ``line`` and ``column`` are 1-based, ``None`` when unknown."""

    file: str
    line: int | None
    column: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        what = f"{self.field}: {self.message}" if self.field else self.message
        return f"{where}: {what}"


class CaseFileError(UsageError):
    """Case files could not be loaded; ``errors`` holds every mistake found, in file order."""

    def __init__(self, errors: list[LoadError]) -> None:
        super().__init__(errors)  # the list itself, so the exception pickles back whole
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(map(str, self.errors))


Loaded = tuple[list[TestCase], list[LoadError]]
"""The cases of a file and its mistakes: no cases when there is any mistake."""


def failed(file: str, message: str, line: int | None = None, column: int | None = None) -> Loaded:
    """No cases, and one mistake of the file as a whole (``line``/``column`` where known)."""
    return [], [LoadError(file, line, column, "", message)]


def yaml_error(exc: yaml.MarkedYAMLError) -> tuple[str, int | None, int | None]:
    """A YAML syntax error as a message and position; quoting hints for the usual suspects."""
    mark = exc.problem_mark or exc.context_mark
    message = "YAML syntax error: " + " ".join(p for p in (exc.context, exc.problem) if p)
    if exc.problem and ("alias" in exc.problem or "alphabetic or numeric" in exc.problem):
        message += " (a value starting with '*' is a YAML alias: quote it, e.g. \"*\")"
    if mark is None:
        return message, None, None
    return message, mark.line + 1, mark.column + 1


def field_path(path: Path_) -> str:
    """``steps[3].expect.window``: how a path is shown (indexes count from 0)."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


class Document:
    """A composed case file: its node tree, the data built from it, and the mistakes found so far.

    ``data`` holds every value of the tree except those that are mistakes themselves (a key that is
    not a plain name, an unreadable scalar); a key given twice keeps its last value, as YAML would,
    and is reported.  :meth:`error_at` is the one place a mistake is recorded, so a subclass can
    change how fields are named (a matrix table names its own paths).
    """

    def __init__(self, file: str, text: str, root: yaml.Node) -> None:
        self.file = file
        self.text = text
        self.root = root
        self.errors: list[LoadError] = []
        self._constructor = yaml.constructor.SafeConstructor()
        self.data = self._to_data(root, ())

    def _to_data(self, node: yaml.Node, path: Path_) -> Any:
        """Plain data for the schema; duplicate keys are a mistake here (YAML would keep the last)."""
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
                if not isinstance(key_node, yaml.ScalarNode):
                    self.error_at(key_node, field_path(path), "a key must be a plain name")
                    continue
                if key in out:
                    self.error_at(key_node, field_path((*path, key)),
                                  f"{key!r} is given twice (first at line {self._key_line(node, key)})")
                out[key] = self._to_data(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._to_data(item, (*path, i)) for i, item in enumerate(node.value)]
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.error_at(node, field_path(path), f"unreadable value: {getattr(exc, 'problem', None) or exc}")
        except Exception:  # a tag the value does not fit (!!float x, !!timestamp 2001-99-99): PyYAML raises bare errors
            kind = node.tag.rsplit(":", 1)[-1]
            self.error_at(node, field_path(path), f"unreadable value: {node.value!r} is not a valid {kind}")
        return None

    @staticmethod
    def _key_line(mapping: yaml.MappingNode, key: str) -> int:
        line: int = next(k.start_mark.line + 1 for k, _ in mapping.value if getattr(k, "value", None) == key)
        return line

    def node(self, path: Path_) -> tuple[yaml.Node, yaml.Node | None]:
        """The value node at ``path`` (or its deepest existing ancestor) and the key node naming it."""
        node, key_node = self.root, None
        for part in path:
            if isinstance(node, yaml.MappingNode) and isinstance(part, str):
                match = [(k, v) for k, v in node.value if getattr(k, "value", None) == part]
                if not match:
                    break
                key_node, node = match[-1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                key_node, node = None, node.value[part]
            else:
                break
        return node, key_node

    def line(self, path: Path_) -> int:
        return self.node(path)[0].start_mark.line + 1

    def error_at(self, node: yaml.Node, field: str, message: str, column: int | None = None) -> None:
        """Record a mistake at ``node``; ``column`` (1-based, in a scalar's text) narrows it down."""
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        if column is not None and isinstance(node, yaml.ScalarNode) and node.style in (None, "", "'", '"'):
            quote = 0 if not node.style else 1  # a plain scalar's style: None from PyYAML, "" from libyaml
            start = node.start_mark.index + quote
            if self.text[start:start + len(node.value)] == node.value:
                col += quote + column - 1
        self.errors.append(LoadError(self.file, line, col, field, message))

    def error(self, path: Path_, message: str, *, key: bool = False, column: int | None = None) -> None:
        """Record a mistake at the value at ``path`` (``key``: at the key naming it, if there is one)."""
        node, key_node = self.node(path)
        self.error_at(key_node if key and key_node is not None else node, field_path(path), message, column)

    def sorted_errors(self) -> list[LoadError]:
        """The mistakes in line order (the order a reader meets them)."""
        return sorted(self.errors, key=lambda e: (e.line or 0, e.column or 0))
