"""The state x event matrix: many test cases generated from one table (``testcases/matrix/``).

Most of a TCP conformance suite is the same question asked over and over: *in state S, what does
the target do with segment kind E?*  Written case by case, that is dozens of near-identical files
whose handshakes drift apart.  A matrix table says each part once: per state, the steps that drive
a fresh connection there; per event, the probe segment; per (state, event) cell, the response RFC
9293 prescribes.  :func:`expand` turns the table into ordinary
:class:`~tcpconform.cases.model.TestCase` objects, each carrying its ``matrix_cell`` (state, event):
the engine, ``selftest`` and ``list`` need to know nothing about tables, and the reports' grid
(:mod:`tcpconform.report.matrix_grid`) reads the cell, never the id.

The generated cases are checked exactly like case files: each one is assembled as a YAML node tree
whose nodes are the table's own (or new nodes carrying the position of the table entry they were
made from) and handed to the schema and :class:`~tcpconform.cases.build.CaseBuilder`.  So every
step's ``file:line`` is a line of the table, and every mistake is reported as ``file:line:column: field: why`` with the field's
path in the table (``matrix.cells.ESTABLISHED.RST.expect``), never in the invisible generated case.

In templates, ``$name`` and ``$name+n`` / ``$name-n`` are replaced by the state's ``values`` (the
target's next sequence number, the tester's next one...) before the notation is parsed; any other
``$name`` (``$window``, ``$isn``) is left for the engine, as in a case file.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, TypeVar

import yaml

from tcpconform.cases.build import CaseBuilder
from tcpconform.cases.document import Document, Loaded, LoadError, Path_, field_path
from tcpconform.cases.model import TestCase
from tcpconform.cases.profiles import PROFILES
from tcpconform.cases.schema import got
from tcpconform.cases.schema import problems as schema_problems
from tcpconform.cases.values import did_you_mean
from tcpconform.tcp.states import State

__all__ = ["EVENT_ORDER", "MATRIX_KEY", "case_id", "expand", "is_table"]

MATRIX_KEY = "matrix"
EVENT_ORDER = ("SYN", "SYN-ACK", "ACK", "FIN", "FIN-ACK", "RST", "RST-ACK", "data")
"""The usual columns, in the order the results grid shows them (others follow in table order)."""

TABLE_KEYS = ("description", "numbering", "tester", "tolerate", "invariants", "needs", "tags",
              "requirements", "states", "events", "cells")
STATE_KEYS = ("description", "values", "steps", "rfc", "numbering", "needs")
EVENT_KEYS = ("send", "text")
CELL_KEYS = ("title", "why", "expect", "within", "tolerate", "silence", "state", "then", "rfc",
             "faults", "no_fault", "omit")
RFC_STEP_KINDS = ("expect", "silence", "app", "state")
"""Step kinds that accept ``rfc`` (a state's default requirement is added to these)."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_VALUE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_REF = re.compile(r"\$([a-z_][a-z0-9_]*)([+-][0-9]{1,10})?(?![0-9])")
_CAPTURE = re.compile(r"\?([a-z_][a-z0-9_]*)")
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
STATE_NAMES = tuple(State.__members__)
_N = TypeVar("_N", bound=yaml.Node)


def is_table(root: yaml.Node) -> bool:
    """A composed YAML document is a matrix table when its top-level mapping has a ``matrix`` key."""
    return isinstance(root, yaml.MappingNode) and any(
        isinstance(k, yaml.ScalarNode) and k.value == MATRIX_KEY for k, _ in root.value)


def case_id(state: str, event: str) -> str:
    """``matrix-established-rst``, ``matrix-syn-rcvd-syn-ack``: ids that sort by state then event."""
    return f"matrix-{state.lower().replace('_', '-')}-{event.lower()}"


# --- expansion ----------------------------------------------------------------------------------


def expand(file: str, text: str, root: yaml.Node) -> Loaded:
    """The cases of a matrix table, or the mistakes of the table (all of them, in line order)."""
    return _Expander(file, text, root).run()


class _CaseDoc(Document):
    """A generated case's document: mistakes are reported at the table path of the node involved."""

    def __init__(self, file: str, text: str, root: yaml.Node, paths: dict[int, Path_]) -> None:
        self.paths = paths  # set first: Document.__init__ may already report mistakes
        super().__init__(file, text, root)

    def error_at(self, node: yaml.Node, field: str, message: str, column: int | None = None) -> None:
        origin = self.paths.get(id(node))
        super().error_at(node, field_path(origin) if origin is not None else field, message, column)


class _Origins:
    """Where each node of a generated case is shown: its path in the table, by node identity.

    The table's own nodes are indexed once; a synthetic node is registered with the table path of
    the entry it was made from.  Every registered node is kept alive here, since ``id()`` of a
    freed node may be handed to a new one.
    """

    def __init__(self, root: yaml.Node) -> None:
        self.paths: dict[int, Path_] = {}
        self._keep: list[yaml.Node] = []
        _index(root, (), self.paths)

    def register(self, node: _N, origin: Path_ | None = None) -> _N:
        """Keep ``node``; with ``origin``, its mistakes are reported at that table path."""
        self._keep.append(node)
        if origin is not None:
            self.paths[id(node)] = origin
        return node

    def scalar(self, value: str, at: yaml.Node, origin: Path_) -> yaml.ScalarNode:
        return self.register(yaml.ScalarNode(_STR, value, at.start_mark, at.end_mark, style='"'), origin)

    def seq(self, items: list[yaml.Node], at: yaml.Node, origin: Path_) -> yaml.SequenceNode:
        return self.register(yaml.SequenceNode(_SEQ, items, at.start_mark, at.end_mark), origin)

    def map(self, pairs: list[tuple[yaml.Node, yaml.Node]], at: yaml.Node, origin: Path_) -> yaml.MappingNode:
        return self.register(yaml.MappingNode(_MAP, pairs, at.start_mark, at.end_mark), origin)


class _Expander:
    """One table: structural checks first, then one generated case per cell."""

    def __init__(self, file: str, text: str, root: yaml.Node) -> None:
        self.file, self.text = file, text
        self.doc = Document(file, text, root)
        self.origins = _Origins(root)
        self.table: dict[str, Any] = {}
        self.requirements: dict[str, yaml.Node] = {}
        self.engine_names = {n for p in PROFILES.values() for n in p.values} | set(_CAPTURE.findall(text))
        """Names the engine binds (profile values, ``?name`` captures): never a misspelt state value."""

    # -- helpers ---------------------------------------------------------------------------------
    def err(self, path: Path_, message: str, *, key: bool = False) -> None:
        self.doc.error(path, message, key=key)

    def node(self, *path: str | int) -> yaml.Node:
        return self.doc.node((MATRIX_KEY, *path))[0]

    def key_node(self, *path: str | int) -> yaml.Node | None:
        return self.doc.node((MATRIX_KEY, *path))[1]

    def _keys(self, where: Path_, data: dict[str, Any], allowed: tuple[str, ...], what: str) -> None:
        for key in data:
            if key not in allowed:
                hint = did_you_mean(key, allowed) or f" (allowed: {', '.join(allowed)})"
                self.err((*where, key), f"unknown field {key!r} in {what}{hint}", key=True)

    def _mapping(self, path: Path_, value: Any, what: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.err(path, f"{what} must be a mapping (got {got(value)})")
            return {}
        return value

    # -- structure -------------------------------------------------------------------------------
    def run(self) -> tuple[list[TestCase], list[LoadError]]:
        data = self.doc.data if isinstance(self.doc.data, dict) else {}
        for key in data:
            if key != MATRIX_KEY:
                self.err((key,), f"a matrix table has the single top-level key 'matrix' (got {key!r})", key=True)
        self.table = self._mapping((MATRIX_KEY,), data.get(MATRIX_KEY), "matrix")
        if not self.table:
            return [], self._errors()
        self._keys((MATRIX_KEY,), self.table, TABLE_KEYS, "the table")
        if not isinstance(tags := self.table.get("tags", []), list) or not all(isinstance(t, str) for t in tags):
            self.err((MATRIX_KEY, "tags"), f"tags must be a list of names (got {got(tags)})")
        self._requirements()
        states = self._states()
        events = self._events()
        cells = self._cells(states, events)
        if self.doc.errors:
            return [], self._errors()
        cases: list[TestCase] = []
        errors: list[LoadError] = []
        for state, event, cell in cells:
            case, errs = self._case(state, event, cell)
            errors += errs
            if case is not None:
                cases.append(case)
        unique = sorted(set(errors), key=lambda e: (e.line or 0, e.column or 0, e.field, e.message))
        return ([] if unique else cases), unique

    def _errors(self) -> list[LoadError]:
        return sorted(self.doc.errors, key=lambda e: (e.line or 0, e.column or 0))

    def _requirements(self) -> None:
        reqs = self.table.get("requirements")
        if not isinstance(reqs, list) or not reqs:
            self.err((MATRIX_KEY, "requirements") if "requirements" in self.table else (MATRIX_KEY,),
                     "the table needs 'requirements': a list of requirements (id, ref, level) its cells name")
            return
        for i, req in enumerate(reqs):
            if isinstance(req, dict) and isinstance(req.get("id"), str):
                if req["id"] in self.requirements:
                    self.err((MATRIX_KEY, "requirements", i, "id"), f"duplicate requirement id {req['id']!r}")
                self.requirements[req["id"]] = self.node("requirements", i)

    def _rfc(self, path: Path_, name: Any) -> bool:
        if not isinstance(name, str):
            self.err(path, f"expected the id of one of the table's requirements (got {got(name)})")
            return False
        if name not in self.requirements:
            hint = did_you_mean(name, self.requirements)
            self.err(path, f"no requirement {name!r} in the table{hint} "
                           f"(its requirements: {', '.join(self.requirements) or 'none'})")
            return False
        return True

    def _states(self) -> dict[str, dict[str, Any]]:
        raw = self._mapping((MATRIX_KEY, "states"), self.table.get("states"), "states")
        out: dict[str, dict[str, Any]] = {}
        for name, state in raw.items():
            path: Path_ = (MATRIX_KEY, "states", name)
            if name not in STATE_NAMES:
                hint = did_you_mean(name, STATE_NAMES) or f" (states: {', '.join(STATE_NAMES)})"
                self.err(path, f"unknown TCP state {name!r}{hint}", key=True)
                continue
            state = self._mapping(path, state, f"state {name}")
            self._keys(path, state, STATE_KEYS, f"state {name}")
            values = self._mapping((*path, "values"), state.get("values"), "values")
            for vname, value in values.items():
                if not _VALUE_NAME.match(str(vname)):
                    self.err((*path, "values", vname), "a value name is lowercase letters, digits and '_'",
                             key=True)
                elif isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF:
                    self.err((*path, "values", vname), f"expected a sequence number 0..2^32-1 (got {got(value)})")
            steps = state.get("steps")
            if not isinstance(steps, list) or not steps:
                self.err((*path, "steps") if "steps" in state else path,
                         "a state needs 'steps': the steps that drive a fresh connection into it")
            elif not (isinstance(steps[-1], dict) and steps[-1].get("state") == name):
                self.err((*path, "steps", len(steps) - 1), f"the last step must check the state: 'state: {name}'")
            if "rfc" in state:
                self._rfc((*path, "rfc"), state["rfc"])
            out[name] = state
        return out

    def _events(self) -> dict[str, dict[str, Any]]:
        raw = self._mapping((MATRIX_KEY, "events"), self.table.get("events"), "events")
        out: dict[str, dict[str, Any]] = {}
        for name, event in raw.items():
            path: Path_ = (MATRIX_KEY, "events", name)
            if not _NAME.match(str(name)):
                self.err(path, "an event name is letters, digits and '-' (it becomes part of case ids)", key=True)
                continue
            event = self._mapping(path, event, f"event {name}")
            self._keys(path, event, EVENT_KEYS, f"event {name}")
            if "send" not in event:
                self.err(path, "an event needs 'send': the probe segment (notation or mapping)")
            out[str(name)] = event
        return out

    def _cells(self, states: dict[str, Any], events: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
        raw = self._mapping((MATRIX_KEY, "cells"), self.table.get("cells"), "cells")
        out: list[tuple[str, str, dict[str, Any]]] = []
        for sname, row in raw.items():
            rpath: Path_ = (MATRIX_KEY, "cells", sname)
            if sname not in states:
                known = ", ".join(states) or "none"
                self.err(rpath, f"no state {sname!r} in the table's states{did_you_mean(sname, states)} "
                                f"(its states: {known})", key=True)
                continue
            row = self._mapping(rpath, row, f"cells of {sname}")
            for ename, cell in row.items():
                path: Path_ = (*rpath, ename)
                if ename not in events:
                    self.err(path, f"no event {ename!r} in the table's events{did_you_mean(ename, events)} "
                                   f"(its events: {', '.join(events) or 'none'})", key=True)
                    continue
                cell = self._mapping(path, cell, f"cell {sname} x {ename}")
                if self._cell_ok(path, cell):
                    out.append((sname, ename, cell))
            for ename in events:
                if ename not in row:
                    self.err(rpath, f"no cell for event {ename!r}: give its response, or 'omit: why'", key=True)
        for sname in states:
            if sname not in raw:
                self.err((MATRIX_KEY, "cells") if "cells" in self.table else (MATRIX_KEY,),
                         f"no cells for state {sname!r}: give a row (each cell a response, or 'omit: why')",
                         key="cells" in self.table)
        return out

    def _cell_ok(self, path: Path_, cell: dict[str, Any]) -> bool:
        """Table-level checks of one cell; the rest is checked on the generated case."""
        self._keys(path, cell, CELL_KEYS, "a cell")
        if "omit" in cell:
            extra = [k for k in cell if k not in ("omit", "why")]
            if extra:
                self.err((*path, extra[0]), "an omitted cell ('omit: why') has nothing else", key=True)
            if not isinstance(cell["omit"], str) or not cell["omit"].strip():
                self.err((*path, "omit"), "say why the cell is omitted")
            return False
        ok = True
        if ("expect" in cell) == ("silence" in cell):
            self.err(path, "a cell gives exactly one response: 'expect: <segment>' or 'silence: <duration>'")
            ok = False
        if "within" in cell and "expect" not in cell:
            self.err((*path, "within"), "'within' bounds an 'expect' response", key=True)
        if "state" not in cell:
            self.err(path, "a cell needs 'state': the state the target must be in after the response")
            ok = False
        if "rfc" not in cell:
            self.err(path, "a cell needs 'rfc': the id of the requirement (in the table's requirements) it checks")
            ok = False
        elif not self._rfc((*path, "rfc"), cell["rfc"]):
            ok = False
        if "then" in cell and not isinstance(cell["then"], list):
            self.err((*path, "then"), f"'then' is a list of steps (got {got(cell['then'])})")
            ok = False
        return ok

    # -- one generated case ----------------------------------------------------------------------
    def _case(self, state: str, event: str, cell: dict[str, Any]) -> tuple[TestCase | None, list[LoadError]]:
        """The cell's case, checked as a case file is, its mistakes at table paths."""
        sdata = self.table["states"][state]
        values: dict[str, int] = {k: v for k, v in (sdata.get("values") or {}).items() if isinstance(v, int)}
        all_names = {n for s in self.table["states"].values() if isinstance(s, dict) for n in (s.get("values") or {})}
        sub = _Substitution(self.origins, self.file, self.engine_names, state, values, all_names)
        cpath: Path_ = (MATRIX_KEY, "cells", state, event)
        at = self.node("cells", state, event)  # the cell: where the case's own keys point
        entries = self._head(state, event, cell, sub.text, at)
        entries.append(("steps", self.origins.seq(self._steps(state, event, cell, sub), at, cpath), cpath))
        pairs: list[tuple[yaml.Node, yaml.Node]] = [(self.origins.scalar(k, at, o), v) for k, v, o in entries]
        root = self.origins.register(yaml.MappingNode(_MAP, pairs, at.start_mark, at.end_mark))
        doc = _CaseDoc(self.file, self.text, root, self.origins.paths)
        doc.errors.extend(sub.errors)
        for problem in schema_problems(doc.data):
            doc.error(problem.path, problem.message, key=problem.key)
        case = CaseBuilder(doc).build()
        if doc.errors or case is None:
            return None, doc.errors
        return dataclasses.replace(case, matrix_cell=(state, event)), doc.errors

    def _head(self, state: str, event: str, cell: dict[str, Any], subst: Any,
              at: yaml.Node) -> list[tuple[str, yaml.Node, Path_]]:
        """The case's keys before ``steps``, each with its node and the table path it comes from."""
        cpath: Path_ = (MATRIX_KEY, "cells", state, event)
        sdata = self.table["states"][state]

        def own(value: str) -> yaml.Node:  # a value the cell stands for
            return self.origins.scalar(value, at, cpath)

        req = next((r for r in self.table.get("requirements") or []
                    if isinstance(r, dict) and r.get("id") == cell.get("rfc")), {})
        level, ref = req.get("level"), req.get("ref")
        title = cell.get("title") or _auto_title(cell, subst)
        if level in ("SHOULD", "MAY"):  # a cell below MUST says so where a reader looks first
            title += f" ({level}, {ref})"
        description = "\n".join(str(x).strip() for x in (
            sdata.get("description"), self.table["events"][event].get("text"), cell.get("why")) if x)
        out: list[tuple[str, yaml.Node, Path_]] = [
            ("id", own(case_id(state, event)), cpath), ("title", own(f"{event} in {state}: {title}"), cpath),
            ("area", own("matrix"), cpath), *([("description", own(description), cpath)] if description else []),
            ("requirements", self._case_requirements(cell, sdata), (MATRIX_KEY, "requirements"))]
        if isinstance(level, str):  # the cell's own level: the steps driving the state only set it up
            out.append(("level", own(level), cpath))
        copied = [(*cpath, k) for k in ("faults", "no_fault") if k in cell]
        if "numbering" in sdata:  # a state may number differently (LISTEN: no target ISN yet)
            copied.append((MATRIX_KEY, "states", state, "numbering"))
        elif "numbering" in self.table:
            copied.append((MATRIX_KEY, "numbering"))
        if "needs" in sdata:  # what the state needs of the application (CLOSE_WAIT: that it stays open)
            copied.append((MATRIX_KEY, "states", state, "needs"))
        elif "needs" in self.table:
            copied.append((MATRIX_KEY, "needs"))
        copied += [(MATRIX_KEY, k) for k in ("tester", "tolerate", "invariants") if k in self.table]
        out += [(str(path[-1]), self.node(*path[1:]), path) for path in copied]
        tags = ["matrix"] + [t for t in (self.table.get("tags") or []) if isinstance(t, str) and t != "matrix"]
        out.append(("tags", self.origins.seq([own(t) for t in tags], at, cpath), cpath))
        return out

    def _case_requirements(self, cell: dict[str, Any], sdata: dict[str, Any]) -> yaml.Node:
        """The table's requirements the case names: the cell's, the state's, its steps'."""
        rfc_ids = [cell["rfc"], sdata.get("rfc")]
        rfc_ids += [step.get("rfc") for step in sdata.get("steps") or [] if isinstance(step, dict)]
        reqs = [self.requirements[r] for r in dict.fromkeys(rfc_ids) if isinstance(r, str) and r in self.requirements]
        return self.origins.seq(reqs, self.node("requirements"), (MATRIX_KEY, "requirements"))

    def _steps(self, state: str, event: str, cell: dict[str, Any], sub: _Substitution) -> list[yaml.Node]:
        """The state's steps (with its requirement), the event's probe, then the cell's response."""
        spath: Path_ = (MATRIX_KEY, "states", state)
        state_rfc = self.table["states"][state].get("rfc")
        steps = [self._with_rfc(step, state_rfc, (*spath, "steps", i), (*spath, "rfc"))
                 for i, step in enumerate(self.node("states", state, "steps").value)]
        epath: Path_ = (MATRIX_KEY, "events", event)
        send_key = self.key_node("events", event, "send")
        assert send_key is not None  # _events refused an event without 'send'
        send = sub(self.node("events", event, "send"), (*epath, "send"))
        steps.append(self.origins.map([(send_key, send)], self.node("events", event), epath))
        return steps + self._response(state, event, cell, sub)

    def _response(self, state: str, event: str, cell: dict[str, Any], sub: _Substitution) -> list[yaml.Node]:
        """The cell's steps: its response (expect or silence), the state check, then ``then``."""
        cpath: Path_ = (MATRIX_KEY, "cells", state, event)

        def pair(key: str) -> tuple[yaml.Node, yaml.Node]:  # a key the cell has, and its value
            value, key_node = self.doc.node((*cpath, key))
            assert key_node is not None
            return key_node, value

        kind = "expect" if "expect" in cell else "silence"
        kind_key, kind_value = pair(kind)
        rfc = pair("rfc")
        pairs = [(kind_key, sub(kind_value, (*cpath, kind))), *(pair(k) for k in ("within", "tolerate") if k in cell)]
        state_pair = pair("state")
        out: list[yaml.Node] = [self.origins.map([*pairs, rfc], kind_key, (*cpath, kind)),
                                self.origins.map([state_pair, rfc], state_pair[0], (*cpath, "state"))]
        if isinstance(cell.get("then"), list):
            out += [sub(step, (*cpath, "then", i)) for i, step in enumerate(self.node(*cpath[1:], "then").value)]
        return out

    def _with_rfc(self, step: yaml.Node, rfc: Any, origin: Path_, rfc_origin: Path_) -> yaml.Node:
        """A prefix step, with the state's requirement added where the step names none and takes one."""
        if not isinstance(rfc, str) or not isinstance(step, yaml.MappingNode):
            return step
        keys = [k.value for k, _ in step.value if isinstance(k, yaml.ScalarNode)]
        if "rfc" in keys or not any(k in RFC_STEP_KINDS for k in keys):
            return step
        rfc_node = self.node(*rfc_origin[1:])
        return self.origins.map([*step.value, (self.origins.scalar("rfc", step, rfc_origin), rfc_node)], step, origin)


class _Substitution:
    """``$name[+-n]`` of the state's values, replaced in a template node (a copy; the table is untouched)."""

    def __init__(self, origins: _Origins, file: str, engine_names: set[str], state: str, values: dict[str, int],
                 all_names: set[str]) -> None:
        self.origins, self.file, self.engine_names = origins, file, engine_names
        self.state, self.values, self.all_names = state, values, all_names
        self.errors: list[LoadError] = []

    def __call__(self, node: yaml.Node, origin: Path_) -> yaml.Node:
        if isinstance(node, yaml.ScalarNode):
            if node.tag != _STR or "$" not in node.value:
                return node
            text = _REF.sub(lambda m: self._value(m, node, origin), node.value)
            if text == node.value:
                return node
            new = yaml.ScalarNode(_STR, text, node.start_mark, node.end_mark, style=node.style)
            return self.origins.register(new, origin)
        if isinstance(node, yaml.SequenceNode):
            items = [self(item, (*origin, i)) for i, item in enumerate(node.value)]
            if all(a is b for a, b in zip(items, node.value, strict=True)):
                return node
            return self.origins.register(yaml.SequenceNode(node.tag, items, node.start_mark, node.end_mark), origin)
        if isinstance(node, yaml.MappingNode):
            pairs = [(k, self(v, (*origin, getattr(k, "value", "?")))) for k, v in node.value]
            if all(a[1] is b[1] for a, b in zip(pairs, node.value, strict=True)):
                return node
            return self.origins.register(yaml.MappingNode(node.tag, pairs, node.start_mark, node.end_mark), origin)
        return node

    def text(self, value: str) -> str:
        """``value`` with the state's values put in (mistakes are reported where the node is)."""
        def put(m: re.Match[str]) -> str:
            name, offset = m.group(1), int(m.group(2) or 0)
            return str((self.values[name] + offset) & 0xFFFFFFFF) if name in self.values else m.group(0)

        return _REF.sub(put, value)

    def _value(self, m: re.Match[str], node: yaml.Node, origin: Path_) -> str:
        name, offset = m.group(1), int(m.group(2) or 0)
        if name in self.values:
            return str((self.values[name] + offset) & 0xFFFFFFFF)
        if name in self.all_names:
            have = ", ".join(self.values) or "none"
            message = f"${name}: state {self.state} gives no value {name!r} (its values: {have})"
        elif name not in self.engine_names and (hint := did_you_mean(name, self.all_names)):
            message = f"${name}: no state gives a value {name!r}{hint}"
        else:
            return m.group(0)  # an engine name ($window, $isn): left for the run
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        self.errors.append(LoadError(self.file, line, col, field_path(origin), message))
        return m.group(0)


def _index(node: yaml.Node, path: Path_, out: dict[int, Path_]) -> None:
    """Every node of the table, by identity, to its path: where a generated case's mistake is shown."""
    out[id(node)] = path
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, getattr(key, "value", "?"))
            out[id(key)] = sub
            _index(value, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*path, i), out)


def _auto_title(cell: dict[str, Any], subst: Any) -> str:
    """``expect . 101:101(0) ack 1, then ESTABLISHED``: the response, in the state's numbers."""
    response = f"expect {subst(cell['expect'])}" if isinstance(cell.get("expect"), str) else (
        "a segment" if "expect" in cell else f"silence for {cell.get('silence')}")
    return f"{response}, then {cell.get('state')}"
