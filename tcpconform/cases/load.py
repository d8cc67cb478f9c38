"""Case files (YAML) → validated :class:`~tcpconform.model.TestCase` objects.

A case file is written by hand, so every mistake is reported as ``file:line:column: field: what``
and all mistakes of a file (and of every file, for :func:`load_cases`) are reported at once rather
than one per run.  To know lines, the file is parsed with PyYAML's ``compose``: the node tree keeps
the position of every key and value, and the data the schema validates is built from that tree, so
any path the schema or a later check complains about leads back to a node and its line.

Checking happens in two passes: the JSON Schema (:mod:`tcpconform.schema`) for structure, then the
meaning: segment notation, values and durations, requirement and fault names.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tcpconform.cases import cache as casecache
from tcpconform.cases import schema as case_schema
from tcpconform.cases.model import (
    INVARIANTS,
    ISN_MIN_BITS,
    TOLERABLE,
    AnyStep,
    AppStep,
    ExpectStep,
    FieldSpec,
    IsnCheckStep,
    IsnSampleStep,
    Level,
    Numbering,
    Requirement,
    SegmentSpec,
    SendStep,
    SilenceStep,
    SourceLoc,
    StateStep,
    TestCase,
    WaitStep,
)
from tcpconform.cases.notation import build_segment, parse_segment
from tcpconform.cases.values import NotationError, did_you_mean, field_value, parse_duration
from tcpconform.tcp.segment import Flags

__all__ = ["CaseFileError", "LoadError", "load_case", "load_cases", "load_file"]

PathKey = str | int
Path_ = tuple[PathKey, ...]
STEP_KINDS = ("send", "expect", "silence", "app", "state", "wait", "isn_sample", "isn_check")
APP_ACTIONS = ("listen", "close", "shutdown", "read", "write")
APP_HELP = "listen, close, shutdown, 'read N' or 'write N'"


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


class CaseFileError(Exception):
    """Case files could not be loaded; ``errors`` holds every mistake found, in file order."""

    def __init__(self, errors: list[LoadError]) -> None:
        super().__init__(errors)  # the list itself, so the exception pickles back whole
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(map(str, self.errors))


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


# --- the YAML document, with positions ----------------------------------------------------------


class _Doc:
    """A composed case file: its node tree, the data built from it, and the mistakes found so far."""

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
                    self.error_at(key_node, _field(path), "a key must be a plain name")
                    continue
                if key in out:
                    self.error_at(key_node, _field((*path, key)),
                                  f"{key!r} is given twice (first at line {self._key_line(node, key)})")
                out[key] = self._to_data(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._to_data(item, (*path, i)) for i, item in enumerate(node.value)]
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.error_at(node, _field(path), f"unreadable value: {getattr(exc, 'problem', None) or exc}")
            return None

    @staticmethod
    def _key_line(mapping: yaml.MappingNode, key: str) -> int:
        return next(k.start_mark.line + 1 for k, _ in mapping.value if getattr(k, "value", None) == key)

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
        node, key_node = self.node(path)
        self.error_at(key_node if key and key_node is not None else node, _field(path), message, column)


def _field(path: Path_) -> str:
    """``steps[3].expect.window``: how a path is shown (indexes count from 0)."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


_Failed = tuple[list[TestCase], list[LoadError]]


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser where PyYAML was built with it (five times faster; the same nodes and positions)."""


def _failed(file: str, message: str, line: int | None = None, column: int | None = None) -> _Failed:
    """No cases, and one mistake of the file as a whole (``line``/``column`` where known)."""
    return [], [LoadError(file, line, column, "", message)]


def _load_file(file: str) -> tuple[list[TestCase], list[LoadError]]:
    """The cases of a file (none when it has mistakes) and its mistakes."""
    try:
        with open(file, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        return _failed(file, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
    except OSError as exc:
        return _failed(file, f"cannot read the file: {exc.strerror or exc}")
    remembered = casecache.get(file, text)
    if remembered is not None:
        return remembered, []
    cases, errors = _parse_file(file, text)
    if not errors:
        casecache.put(file, text, cases)
    return cases, errors


def _parse_file(file: str, text: str) -> tuple[list[TestCase], list[LoadError]]:
    """What :func:`_load_file` gives for a file's text, computed: YAML, schema, cases."""
    try:
        root = yaml.compose(text, Loader=_YAML_LOADER)
    except yaml.MarkedYAMLError as exc:
        return _failed(file, *_yaml_error(exc))
    except yaml.YAMLError as exc:
        return _failed(file, f"YAML syntax error: {exc}")
    if root is None:
        return _failed(file, "the file is empty: a case file is a mapping with id, title, requirements and steps", 1)
    if not isinstance(root, yaml.MappingNode):
        kind = "a list" if isinstance(root, yaml.SequenceNode) else "a single value"
        return _failed(file, "a case file is a mapping (id: ..., title: ..., steps: ...) or a matrix table "
                       f"(matrix: ...), not {kind}", root.start_mark.line + 1, root.start_mark.column + 1)
    from tcpconform.cases import matrix  # imported here: it builds on this module

    if matrix.is_table(root):
        return matrix.expand(file, text, root)
    doc = _Doc(file, text, root)
    for problem in case_schema.problems(doc.data):
        doc.error(problem.path, problem.message, key=problem.key)
    case = _Builder(doc).build()
    doc.errors.sort(key=lambda e: (e.line or 0, e.column or 0))
    return ([] if doc.errors or case is None else [case]), doc.errors


def _yaml_error(exc: yaml.MarkedYAMLError) -> tuple[str, int | None, int | None]:
    """A YAML syntax error as a message and position; quoting hints for the usual suspects."""
    mark = exc.problem_mark or exc.context_mark
    message = "YAML syntax error: " + " ".join(p for p in (exc.context, exc.problem) if p)
    if exc.problem and ("alias" in exc.problem or "alphabetic or numeric" in exc.problem):
        message += " (a value starting with '*' is a YAML alias: quote it, e.g. \"*\")"
    if mark is None:
        return message, None, None
    return message, mark.line + 1, mark.column + 1


# --- building the case --------------------------------------------------------------------------


class _Builder:
    """Turns validated data into a :class:`TestCase`, checking what the schema cannot.

    It only reads values whose type is right: wrong types were already reported by the schema, and
    reporting them again would bury the first message.
    """

    def __init__(self, doc: _Doc) -> None:
        self.doc = doc
        self.data: dict[str, Any] = doc.data if isinstance(doc.data, dict) else {}
        self.requirement_ids: list[str] = []

    def build(self) -> TestCase | None:
        d = self.data
        requirements = self._requirements()
        tolerate = self._names(("tolerate",), TOLERABLE)
        self._faults()
        built = [self._step(i, step, tolerate) for i, step in enumerate(_list(d.get("steps")))]
        steps = tuple(step for step in built if step is not None)
        level = d.get("level")
        if isinstance(level, str) and level in Level.__members__:
            case_level = Level(level)
        else:
            case_level = min((r.level for r in requirements), key=lambda lv: lv.rank, default=Level.MUST)
        tester = d.get("tester") if isinstance(d.get("tester"), dict) else {}
        if self.doc.errors:
            return None
        faults = d.get("faults") or []
        return TestCase(
            id=d["id"], title=d["title"], loc=SourceLoc(self.doc.file, self.doc.line(("id",))),
            requirements=requirements, steps=steps, description=str(d.get("description") or "").strip(),
            area=d.get("area") or Path(self.doc.file).resolve().parent.name, level=case_level,
            faults=tuple(faults), no_fault=d.get("no_fault"), numbering=self._numbering(),
            tester_window=tester.get("window", 5000), tester_mss=tester.get("mss"),
            invariants=self._names(("invariants",), INVARIANTS), needs=frozenset(d.get("needs") or ()),
            tags=tuple(d.get("tags") or ()),
            closed_port=d.get("port") == "closed", alone=d.get("alone") is True or self._samples(steps),
            family=d.get("family"),
        )

    def _samples(self, steps: tuple[AnyStep, ...]) -> bool:
        """A case sampling many connections runs alone: others would disturb its timing and ports."""
        return any(isinstance(step, IsnSampleStep) for step in steps)

    def _requirements(self) -> tuple[Requirement, ...]:
        out: list[Requirement] = []
        first_line: dict[str, int] = {}
        for i, req in enumerate(_list(self.data.get("requirements"))):
            if not isinstance(req, dict) or not isinstance(req.get("id"), str):
                continue
            rid = req["id"]
            self.requirement_ids.append(rid)
            if rid in first_line:
                self.doc.error(("requirements", i, "id"),
                               f"duplicate requirement id {rid!r} (first at line {first_line[rid]})")
                continue
            first_line[rid] = self.doc.line(("requirements", i, "id"))
            if isinstance(req.get("ref"), str) and req.get("level") in Level.__members__:
                out.append(Requirement(id=rid, ref=req["ref"], level=Level(req["level"]),
                                       text=str(req.get("text") or "").strip(), rid=req.get("rid")))
        return tuple(out)

    def _faults(self) -> None:
        """Every case must be able to fail (``faults``) or say why no fault can show it (``no_fault``)."""
        from tcpconform.responder.faults import FAULTS  # imported here: the responder is not the loader's concern

        faults, no_fault = self.data.get("faults"), self.data.get("no_fault")
        for i, name in enumerate(_list(faults)):
            if isinstance(name, str) and name not in FAULTS:
                hint = did_you_mean(name, FAULTS) or f" (known: {', '.join(sorted(FAULTS))})"
                self.doc.error(("faults", i), f"unknown fault {name!r}{hint}")
        if faults and no_fault is not None:
            self.doc.error(("no_fault",), "give either faults or no_fault, not both", key=True)
        elif not faults and no_fault is None:
            where: Path_ = ("faults",) if "faults" in self.data else ()
            self.doc.error(where, "name the faults that must make this case fail (faults: [...]) or say "
                                  "why none applies (no_fault: ...)", key=bool(where))

    def _numbering(self) -> Numbering:
        value = self.data.get("numbering", "relative")
        if value == "absolute":
            return Numbering(absolute=True)
        if isinstance(value, dict):
            return Numbering(tester=value.get("tester", 0), target=value.get("target", 0))
        return Numbering()

    def _names(self, path: Path_, default: frozenset[str]) -> frozenset[str]:
        """A list of names, ``none`` or ``[]`` (nothing), or ``default`` when the key is absent."""
        node: Any = self.data
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return default
        return frozenset(n for n in _list(node) if isinstance(n, str))

    def _rfc(self, path: Path_, step: dict[str, Any]) -> str | None:
        name = step.get("rfc")
        if isinstance(name, str) and name not in self.requirement_ids:
            known = ", ".join(dict.fromkeys(self.requirement_ids)) or "none"
            hint = did_you_mean(name, self.requirement_ids)
            self.doc.error((*path, "rfc"), f"no requirement {name!r} in this case{hint} "
                                           f"(its requirements: {known})")
            return None
        return name if isinstance(name, str) else None

    def _duration(self, path: Path_, value: Any) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return None  # reported by the schema
        try:
            return parse_duration(value)
        except NotationError as exc:
            self.doc.error(path, exc.message)
            return None

    def _segment(self, path: Path_, value: Any, send: bool) -> SegmentSpec | None:
        if isinstance(value, str):
            try:
                return parse_segment(value, send=send)
            except NotationError as exc:
                self.doc.error(path, exc.message, column=exc.column)
                return None
        if isinstance(value, dict):
            spec, problems = build_segment(value, send=send)
            for sub, message in problems:
                self.doc.error((*path, *sub), message)
            return spec
        return None

    def _step(self, i: int, step: Any, case_tolerate: frozenset[str]) -> AnyStep | None:
        if not isinstance(step, dict):
            return None
        kinds = [k for k in STEP_KINDS if k in step]
        if len(kinds) != 1:
            return None  # reported by the schema
        kind, path = kinds[0], ("steps", i)
        value = step[kind]
        loc = SourceLoc(self.doc.file, self.doc.line(path))
        text = _step_text(kind, value, step)
        if kind in ("send", "expect"):
            spec = self._segment((*path, kind), value, send=kind == "send")
            text = _step_text(kind, spec.text if spec else value, step)
            if kind == "send":
                return SendStep(loc, text, spec) if spec else None
            within = self._duration((*path, "within"), step["within"]) if "within" in step else None
            isn = self._isn(path, step, spec)
            tolerate = case_tolerate if "tolerate" not in step else self._step_names(step)
            rfc = self._rfc(path, step)
            if spec is None:
                return None
            measure = step.get("measure") if isinstance(step.get("measure"), str) else None
            return ExpectStep(loc, text, spec, within=within, isn=isn, tolerate=tolerate, requirement=rfc,
                              measure=measure)
        if kind == "silence":
            duration = self._duration((*path, kind), value)
            tolerate = case_tolerate if "tolerate" not in step else self._step_names(step)
            rfc = self._rfc(path, step)
            return SilenceStep(loc, text, duration, tolerate, rfc) if duration else None
        if kind == "app":
            action = self._app((*path, kind), value)
            rfc = self._rfc(path, step)
            return AppStep(loc, text, action[0], action[1], rfc) if action else None
        if kind == "state":
            rfc = self._rfc(path, step)
            return StateStep(loc, text, value, rfc) if isinstance(value, str) else None
        if kind == "isn_sample":
            interval = self._duration((*path, "interval"), step["interval"]) if "interval" in step else 0.02
            within = self._duration((*path, "within"), step["within"]) if "within" in step else None
            rfc = self._rfc(path, step)
            if not isinstance(value, int) or isinstance(value, bool) or interval is None:
                return None
            return IsnSampleStep(loc, text, value, interval, within, rfc)
        if kind == "isn_check":
            rfc = self._rfc(path, step)
            if not any(isinstance(s, dict) and "isn_sample" in s for s in _list(self.data.get("steps"))[:i]):
                self.doc.error((*path, kind), "isn_check judges a sample: an isn_sample step must come before it")
                return None
            bits = step.get("min_bits", ISN_MIN_BITS)
            if value not in ("clock-driven", "unpredictable") or not isinstance(bits, int | float):
                return None
            return IsnCheckStep(loc, text, value, float(bits), rfc)
        duration = self._duration((*path, kind), value)
        return WaitStep(loc, text, duration) if duration else None

    @staticmethod
    def _step_names(step: dict[str, Any]) -> frozenset[str]:
        return frozenset(n for n in _list(step.get("tolerate")) if isinstance(n, str))

    def _isn(self, path: Path_, step: dict[str, Any], spec: SegmentSpec | None) -> FieldSpec | None:
        if isinstance(step.get("isn"), bool) or not isinstance(step.get("isn"), int | str):
            return None  # absent, or a wrong type the schema reports
        try:
            isn = field_value(step["isn"], "isn")
        except NotationError as exc:
            self.doc.error((*path, "isn"), exc.message)
            return None
        if spec is not None and isinstance(spec.flags, Flags) and not spec.flags & Flags.SYN:
            self.doc.error((*path, "isn"), "isn checks the sequence number of a SYN, and this "
                                           f"expectation is not one ({spec.flags.tcpdump()})", key=True)
        return isn

    def _app(self, path: Path_, value: Any) -> tuple[Any, int | None] | None:
        """``listen``, ``close``, ``shutdown``, ``read N``/``write N`` or ``{read: N}``/``{write: N}``."""
        if isinstance(value, dict):
            items = [(k, v) for k, v in value.items() if k in ("read", "write") and isinstance(v, int)]
            return items[0] if len(items) == 1 and len(value) == 1 else None
        if not isinstance(value, str):
            return None
        words = value.split()
        action = words[0] if words else ""
        if action not in APP_ACTIONS:
            hint = did_you_mean(action, APP_ACTIONS)
            self.doc.error(path, f"expected {APP_HELP} (got {value!r}){hint}")
            return None
        if action in ("read", "write"):
            if len(words) != 2 or not words[1].isdigit() or int(words[1]) < 1:
                self.doc.error(path, f"{action} needs a byte count above 0: '{action} N' (got {value!r})")
                return None
            return action, int(words[1])
        if len(words) != 1:
            self.doc.error(path, f"{action} takes no argument (got {value!r})")
            return None
        return action, None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _step_text(kind: str, value: Any, step: dict[str, Any]) -> str:
    """The step as a report shows it: ``expect S. 100:100(0) ack 1, within 500ms``."""
    if isinstance(value, dict):
        main = " ".join(f"{k} {v}" for k, v in value.items()) if kind == "app" else _flow(value)
    else:
        main = str(value)
    parts = [f"{kind} {main}"]
    parts += [f"{k} {_flow(v)}" for k, v in step.items() if k != kind]
    return ", ".join(parts)


def _flow(value: Any) -> str:
    """A value written as YAML flow style, on one line."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return str(value)
