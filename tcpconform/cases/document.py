"""A composed case file with the position of every node, and the error model of case files.

A case file is written by hand, so every mistake is reported as ``file:line:column: field: what``.
To know lines, the file is composed with PyYAML (``yaml.compose``): the node tree keeps the
position of every key and value, and :class:`Document` builds the plain data the schema validates
from that tree, so any path the schema or a later check complains about leads back to a node and
its line.  :class:`Document` only records mistakes; reading files and raising is :mod:`.load`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from tcpconform.cases.model import TestCase
from tcpconform.cases.values import quoted
from tcpconform.errors import UsageError

__all__ = [
    "FREE_TEXT",
    "CaseFileError",
    "Document",
    "LoadError",
    "Loaded",
    "PathKey",
    "Path_",
    "failed",
    "field_path",
    "text_problem",
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


MAX_ERRORS = 100
"""The most mistakes reported of one file: beyond that, a count (a file of ten thousand unknown keys
is one mistake repeated, and reporting each would take longer than reading them)."""
MAX_MESSAGE = 4_000
"""The longest message of a mistake (characters): messages quote what the file wrote, and a file may
write a megabyte in one value.  Room for the longest list of known names a message gives (an unknown
fault lists every fault: over a hundred)."""
FREE_TEXT = frozenset({"description", "text", "why", "no_fault"})
"""The keys of free text, which may run over several lines (tabs and line breaks allowed)."""
_CONTROL = "\x00-\x08\x0b-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff"
"""Control characters (C0 but tab and newline, DEL, C1 but NEL), lone surrogates, U+FFFE/U+FFFF."""
_IN_FREE_TEXT = re.compile(f"[{_CONTROL}]")
_IN_A_LINE = re.compile(f"[{_CONTROL}\t\n\x85\u2028\u2029]")


def text_problem(value: str, *, free: bool) -> tuple[int, str] | None:
    """The first character of ``value`` no case file string may hold, as (1-based index, why):
    control characters (which junit.xml cannot carry and a terminal obeys), lone surrogates and the
    noncharacters U+FFFE/U+FFFF (which XML refuses), and outside free text tabs and line breaks
    (an id, a title or a tag is one line of a report)."""
    m = (_IN_FREE_TEXT if free else _IN_A_LINE).search(value)
    if m is None:
        return None
    at, char = m.start() + 1, m[0]
    if char == "\t" or char in "\n\x85\u2028\u2029":
        what = "a tab" if char == "\t" else "a line break"
        return at, f"{what} (character {at}) is not allowed here: this is one line of text"
    return at, f"the control character U+{ord(char):04X} (character {at}) is not allowed in a case file's text"


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
        self.unreported = 0
        """Mistakes beyond :data:`MAX_ERRORS`, counted, not kept."""
        self._key_index: dict[int, dict[str, tuple[yaml.Node, yaml.Node, int]]] = {}
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
                problem = text_problem(key, free=False)
                if problem is not None:
                    self.error_at(key_node, field_path(path), f"a key: {problem[1]}", problem[0])
                    continue
                if key in out:
                    self.error_at(key_node, field_path((*path, key)),
                                  f"{key!r} is given twice (first at line {self._key_line(node, key)})")
                out[key] = self._to_data(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._to_data(item, (*path, i)) for i, item in enumerate(node.value)]
        try:
            value = self._constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.error_at(node, field_path(path), f"unreadable value: {getattr(exc, 'problem', None) or exc}")
            return None
        except Exception:  # a tag the value does not fit (!!float x, !!timestamp 2001-99-99): PyYAML raises bare errors
            kind = node.tag.rsplit(":", 1)[-1]
            self.error_at(node, field_path(path), f"unreadable value: {quoted(node.value)} is not a valid {kind}")
            return None
        if isinstance(value, str):
            problem = text_problem(value, free=bool(path) and path[-1] in FREE_TEXT)
            if problem is not None:  # kept: the value is a string, and the schema need not say otherwise
                self.error_at(node, field_path(path), problem[1], problem[0])
        return value

    def _keys(self, mapping: yaml.MappingNode) -> dict[str, tuple[yaml.Node, yaml.Node, int]]:
        """A mapping's pairs by key: the last pair given (as YAML keeps) and the line of the first."""
        index = self._key_index.get(id(mapping))
        if index is None:
            index = self._key_index[id(mapping)] = {}
            for k, v in mapping.value:
                if isinstance(k, yaml.ScalarNode):
                    first = index[k.value][2] if k.value in index else k.start_mark.line + 1
                    index[k.value] = (k, v, first)
        return index

    def _key_line(self, mapping: yaml.MappingNode, key: str) -> int:
        return self._keys(mapping)[key][2]

    def node(self, path: Path_) -> tuple[yaml.Node, yaml.Node | None]:
        """The value node at ``path`` (or its deepest existing ancestor) and the key node naming it."""
        node, key_node = self.root, None
        for part in path:
            if isinstance(node, yaml.MappingNode) and isinstance(part, str):
                match = self._keys(node).get(part)
                if match is None:
                    break
                key_node, node = match[0], match[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                key_node, node = None, node.value[part]
            else:
                break
        return node, key_node

    def line(self, path: Path_) -> int:
        return self.node(path)[0].start_mark.line + 1

    def error_at(self, node: yaml.Node, field: str, message: str, column: int | None = None) -> None:
        """Record a mistake at ``node``; ``column`` (1-based, in a scalar's text) narrows it down."""
        if len(self.errors) >= MAX_ERRORS:
            self.unreported += 1
            return
        if len(message) > MAX_MESSAGE:  # a message quoting a megabyte value quotes its start
            message = message[:MAX_MESSAGE - 3] + "..."
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
        """The mistakes in line order (the order a reader meets them), and how many more there were."""
        found = sorted(self.errors, key=lambda e: (e.line or 0, e.column or 0))
        if self.unreported and found:
            last = found[-1]
            found.append(LoadError(self.file, last.line, last.column, "",
                                   f"and {self.unreported:,} more mistakes, not shown"))
        return found
