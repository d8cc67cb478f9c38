"""The state x event matrix: many test cases generated from one table (``testcases/matrix/``).

Most of a TCP conformance suite is the same question asked over and over: *in state S, what does
the target do with segment kind E?*  Written case by case, that is dozens of near-identical files
whose handshakes drift apart.  A matrix table says each part once: per state, the steps that drive
a fresh connection there; per event, the probe segment; per (state, event) cell, the response RFC
9293 prescribes.  :func:`expand` turns the table into ordinary :class:`~tcpconform.model.TestCase`
objects, so the engine, the reports, ``selftest`` and ``list`` need to know nothing about tables.

The generated cases are checked exactly like case files: each one is assembled as a YAML node tree
whose nodes are the table's own (or new nodes carrying the position of the table entry they were
made from) and handed to the loader's schema and builder.  So every step's ``file:line`` is a line
of the table, and every mistake is reported as ``file:line:column: field: why`` with the field's
path in the table (``matrix.cells.ESTABLISHED.RST.expect``), never in the invisible generated case.

In templates, ``$name`` and ``$name+n`` / ``$name-n`` are replaced by the state's ``values`` (the
target's next sequence number, the tester's next one...) before the notation is parsed; any other
``$name`` (``$window``, ``$isn``) is left for the engine, as in a case file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

from tcpconform.cases.load import LoadError, _Builder, _Doc, _field
from tcpconform.cases.model import TCP_STATES, TestCase
from tcpconform.cases.schema import problems as schema_problems
from tcpconform.cases.values import did_you_mean
from tcpconform.results import CaseResult, RunResult

__all__ = ["EVENT_ORDER", "MATRIX_KEY", "expand", "is_table", "matrix_summary"]

MATRIX_KEY = "matrix"
EVENT_ORDER = ("SYN", "SYN-ACK", "ACK", "FIN", "FIN-ACK", "RST", "RST-ACK", "data")
"""The usual columns, in the order the summary shows them (others follow in table order)."""

TABLE_KEYS = ("description", "numbering", "tester", "tolerate", "invariants", "needs", "tags",
              "requirements", "states", "events", "cells")
STATE_KEYS = ("description", "values", "steps", "rfc", "numbering")
EVENT_KEYS = ("send", "text")
CELL_KEYS = ("title", "why", "expect", "within", "tolerate", "silence", "state", "then", "rfc",
             "faults", "no_fault", "omit")
RFC_STEP_KINDS = ("expect", "silence", "app", "state")
"""Step kinds that accept ``rfc`` (a state's default requirement is added to these)."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_VALUE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_REF = re.compile(r"\$([a-z_][a-z0-9_]*)([+-]\d+)?")
_CAPTURE = re.compile(r"\?([a-z_][a-z0-9_]*)")
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"

Path_ = tuple[str | int, ...]


def is_table(root: yaml.Node) -> bool:
    """A composed YAML document is a matrix table when its top-level mapping has a ``matrix`` key."""
    return isinstance(root, yaml.MappingNode) and any(
        isinstance(k, yaml.ScalarNode) and k.value == MATRIX_KEY for k, _ in root.value)


def case_id(state: str, event: str) -> str:
    """``matrix-established-rst``, ``matrix-syn-rcvd-syn-ack``: ids that sort by state then event."""
    return f"matrix-{state.lower().replace('_', '-')}-{event.lower()}"


# --- expansion ----------------------------------------------------------------------------------


def expand(file: str, text: str, root: yaml.Node) -> tuple[list[TestCase], list[LoadError]]:
    """The cases of a matrix table, or the mistakes of the table (all of them, in line order)."""
    return _Expander(file, text, root).run()


class _CaseDoc(_Doc):
    """A generated case's document: mistakes are reported at the table path of the node involved."""

    def __init__(self, file: str, text: str, root: yaml.Node, paths: dict[int, Path_]) -> None:
        self.paths = paths  # set first: _Doc.__init__ may already report mistakes
        super().__init__(file, text, root)

    def error_at(self, node: yaml.Node, field: str, message: str, column: int | None = None) -> None:
        origin = self.paths.get(id(node))
        super().error_at(node, _field(origin) if origin is not None else field, message, column)


class _Expander:
    """One table: structural checks first, then one generated case per cell."""

    def __init__(self, file: str, text: str, root: yaml.Node) -> None:
        self.file, self.text = file, text
        self.doc = _Doc(file, text, root)
        self.paths: dict[int, Path_] = {}
        self._keep: list[yaml.Node] = []  # synthetic nodes stay alive: ``paths`` is keyed by id()
        _index(root, (), self.paths)
        self.table: dict[str, Any] = {}
        self.requirements: dict[str, yaml.Node] = {}
        from tcpconform.cases.profiles import PROFILES

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
            self.err(path, f"{what} must be a mapping (got {_kind(value)})")
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
            self.err(path, f"expected the id of one of the table's requirements (got {_kind(name)})")
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
            if name not in TCP_STATES:
                hint = did_you_mean(name, TCP_STATES) or f" (states: {', '.join(TCP_STATES)})"
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
                    self.err((*path, "values", vname), f"expected a sequence number 0..2^32-1 (got {_kind(value)})")
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
            self.err((*path, "then"), f"'then' is a list of steps (got {_kind(cell['then'])})")
            ok = False
        return ok

    # -- one generated case ----------------------------------------------------------------------
    def _case(self, state: str, event: str, cell: dict[str, Any]) -> tuple[TestCase | None, list[LoadError]]:
        cpath: Path_ = (MATRIX_KEY, "cells", state, event)
        spath: Path_ = (MATRIX_KEY, "states", state)
        sdata = self.table["states"][state]
        values: dict[str, int] = {k: v for k, v in (sdata.get("values") or {}).items() if isinstance(v, int)}
        all_names = {n for s in self.table["states"].values() if isinstance(s, dict)
                     for n in (s.get("values") or {})}
        sub = _Substitution(self, state, values, all_names)
        at = self.node("cells", state, event)  # the cell: where the case's own keys point
        pairs: list[tuple[yaml.Node, yaml.Node]] = []

        def put(key: str, value: yaml.Node, origin: Path_) -> None:
            pairs.append((self._scalar(key, at, origin), value))

        put("id", self._scalar(case_id(state, event), at, cpath), cpath)
        title = cell.get("title") or _auto_title(cell, sub.text)
        put("title", self._scalar(f"{event} in {state}: {title}", at, cpath), cpath)
        put("area", self._scalar("matrix", at, cpath), cpath)
        description = "\n".join(str(x).strip() for x in (
            sdata.get("description"), self.table["events"][event].get("text"), cell.get("why")) if x)
        if description:
            put("description", self._scalar(description, at, cpath), cpath)
        rfc_ids = [cell["rfc"]]
        state_rfc = sdata.get("rfc")
        if isinstance(state_rfc, str):
            rfc_ids.append(state_rfc)
        for step in sdata.get("steps") or []:
            if isinstance(step, dict) and isinstance(step.get("rfc"), str):
                rfc_ids.append(step["rfc"])
        reqs = [self.requirements[r] for r in dict.fromkeys(rfc_ids) if r in self.requirements]
        put("requirements", self._seq(reqs, self.node("requirements"), (MATRIX_KEY, "requirements")),
            (MATRIX_KEY, "requirements"))
        for key in ("faults", "no_fault"):
            if key in cell:
                put(key, self.node("cells", state, event, key), (*cpath, key))
        if "numbering" in sdata:  # a state may number differently (LISTEN: no target ISN yet)
            put("numbering", self.node("states", state, "numbering"), (*spath, "numbering"))
        elif "numbering" in self.table:
            put("numbering", self.node("numbering"), (MATRIX_KEY, "numbering"))
        for key in ("tester", "tolerate", "invariants", "needs"):
            if key in self.table:
                put(key, self.node(key), (MATRIX_KEY, key))
        tags = ["matrix"] + [t for t in (self.table.get("tags") or []) if isinstance(t, str) and t != "matrix"]
        put("tags", self._seq([self._scalar(t, at, cpath) for t in tags], at, cpath), cpath)

        steps: list[yaml.Node] = []
        for i, step in enumerate(self.node("states", state, "steps").value):
            steps.append(self._with_rfc(step, state_rfc, (*spath, "steps", i), (*spath, "rfc")))
        probe = self.node("events", event)
        send_key = self.key_node("events", event, "send")
        send_value = sub(self.node("events", event, "send"), (MATRIX_KEY, "events", event, "send"))
        steps.append(self._map([(send_key, send_value)], probe, (MATRIX_KEY, "events", event)))
        steps += self._response(state, event, cell, sub)
        put("steps", self._seq(steps, at, cpath), cpath)

        root = yaml.MappingNode(_MAP, pairs, at.start_mark, at.end_mark)
        self._keep.append(root)
        doc = _CaseDoc(self.file, self.text, root, self.paths)
        doc.errors.extend(sub.errors)
        for problem in schema_problems(doc.data):
            doc.error(problem.path, problem.message, key=problem.key)
        case = _Builder(doc).build()
        return (None if doc.errors else case), doc.errors

    def _response(self, state: str, event: str, cell: dict[str, Any], sub: _Substitution) -> list[yaml.Node]:
        """The cell's steps: its response (expect or silence), the state check, then ``then``."""
        cpath: Path_ = (MATRIX_KEY, "cells", state, event)
        kind = "expect" if "expect" in cell else "silence"
        rfc_pair = (self.key_node("cells", state, event, "rfc"), self.node("cells", state, event, "rfc"))
        pairs = [(self.key_node("cells", state, event, kind), sub(self.node("cells", state, event, kind),
                                                                  (*cpath, kind)))]
        pairs += [(self.key_node("cells", state, event, k), self.node("cells", state, event, k))
                  for k in ("within", "tolerate") if k in cell]
        assert rfc_pair[0] is not None
        response = self._map([*pairs, rfc_pair], pairs[0][0], (*cpath, kind))  # type: ignore[list-item]
        state_pair = (self.key_node("cells", state, event, "state"), self.node("cells", state, event, "state"))
        check = self._map([state_pair, rfc_pair], state_pair[0], (*cpath, "state"))  # type: ignore[list-item]
        out = [response, check]
        if isinstance(cell.get("then"), list):
            for i, step in enumerate(self.node("cells", state, event, "then").value):
                out.append(sub(step, (*cpath, "then", i)))
        return out

    def _with_rfc(self, step: yaml.Node, rfc: Any, origin: Path_, rfc_origin: Path_) -> yaml.Node:
        """A prefix step, with the state's requirement added where the step names none and takes one."""
        if not isinstance(rfc, str) or not isinstance(step, yaml.MappingNode):
            return step
        keys = [k.value for k, _ in step.value if isinstance(k, yaml.ScalarNode)]
        if "rfc" in keys or not any(k in RFC_STEP_KINDS for k in keys):
            return step
        rfc_node = self.node(*rfc_origin[1:])
        return self._map([*step.value, (self._scalar("rfc", step, rfc_origin), rfc_node)], step, origin)

    # -- synthetic nodes -------------------------------------------------------------------------
    def _register(self, node: yaml.Node, origin: Path_) -> yaml.Node:
        self._keep.append(node)
        self.paths[id(node)] = origin
        return node

    def _scalar(self, value: str, at: yaml.Node, origin: Path_) -> yaml.ScalarNode:
        node = yaml.ScalarNode(_STR, value, at.start_mark, at.end_mark, style='"')
        return self._register(node, origin)  # type: ignore[return-value]

    def _seq(self, items: list[yaml.Node], at: yaml.Node, origin: Path_) -> yaml.Node:
        return self._register(yaml.SequenceNode(_SEQ, items, at.start_mark, at.end_mark), origin)

    def _map(self, pairs: list[tuple[yaml.Node, yaml.Node]], at: yaml.Node, origin: Path_) -> yaml.Node:
        return self._register(yaml.MappingNode(_MAP, pairs, at.start_mark, at.end_mark), origin)


class _Substitution:
    """``$name[+-n]`` of the state's values, replaced in a template node (a copy; the table is untouched)."""

    def __init__(self, exp: _Expander, state: str, values: dict[str, int], all_names: set[str]) -> None:
        self.exp, self.state, self.values, self.all_names = exp, state, values, all_names
        self.errors: list[LoadError] = []

    def __call__(self, node: yaml.Node, origin: Path_) -> yaml.Node:
        if isinstance(node, yaml.ScalarNode):
            if node.tag != _STR or "$" not in node.value:
                return node
            text = _REF.sub(lambda m: self._value(m, node, origin), node.value)
            if text == node.value:
                return node
            new = yaml.ScalarNode(_STR, text, node.start_mark, node.end_mark, style=node.style)
            return self.exp._register(new, origin)
        if isinstance(node, yaml.SequenceNode):
            items = [self(item, (*origin, i)) for i, item in enumerate(node.value)]
            if all(a is b for a, b in zip(items, node.value, strict=True)):
                return node
            return self.exp._register(yaml.SequenceNode(node.tag, items, node.start_mark, node.end_mark), origin)
        if isinstance(node, yaml.MappingNode):
            pairs = [(k, self(v, (*origin, getattr(k, "value", "?")))) for k, v in node.value]
            if all(a[1] is b[1] for a, b in zip(pairs, node.value, strict=True)):
                return node
            return self.exp._register(yaml.MappingNode(node.tag, pairs, node.start_mark, node.end_mark), origin)
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
        elif name not in self.exp.engine_names and (hint := did_you_mean(name, self.all_names)):
            message = f"${name}: no state gives a value {name!r}{hint}"
        else:
            return m.group(0)  # an engine name ($window, $isn): left for the run
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        self.errors.append(LoadError(self.exp.file, line, col, _field(origin), message))
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


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "nothing" if value is None else repr(value)


# --- the summary grid ---------------------------------------------------------------------------

_GLYPH = {"pass": "ok", "fail": "FAIL", "error": "ERR", "skip": "skip"}


def _split_id(cid: str) -> tuple[str, str] | None:
    """``matrix-syn-rcvd-syn-ack`` -> (``SYN_RCVD``, ``SYN-ACK``); ``None`` for other ids."""
    if not cid.startswith("matrix-"):
        return None
    rest = cid[len("matrix-"):]
    for state in sorted(TCP_STATES, key=len, reverse=True):
        prefix = state.lower().replace("_", "-") + "-"
        if rest.startswith(prefix) and len(rest) > len(prefix):
            event = rest[len(prefix):]
            known = {e.lower(): e for e in EVENT_ORDER}
            return state, known.get(event, event.upper())
    return None


def matrix_summary(results: RunResult | Iterable[CaseResult]) -> list[str]:
    """The verdicts of the matrix cases as a state x event grid, for the console and the report.

    A run's list of verdicts hides the pattern that matters in a matrix (a whole row failing says
    "this state is mishandled", a column "this segment kind is"), so the grid shows it at a glance.
    Cells without a case (omitted in the table, or not selected) are ``-``.  No matrix case: no lines.
    """
    cases = results.cases if isinstance(results, RunResult) else list(results)
    grid: dict[tuple[str, str], str] = {}
    for case in cases:
        split = _split_id(case.id)
        if split is not None:
            grid[split] = case.verdict
    if not grid:
        return []
    states = [s for s in TCP_STATES if any(k[0] == s for k in grid)]
    seen = list(dict.fromkeys(e for _, e in grid))
    events = [e for e in EVENT_ORDER if e in seen] + [e for e in seen if e not in EVENT_ORDER]
    first = max(len(s) for s in states)
    widths = [max(len(e), 4) for e in events]
    lines = [" " * first + "  " + "  ".join(e.ljust(w) for e, w in zip(events, widths, strict=True)).rstrip()]
    for state in states:
        cells = [_GLYPH.get(grid.get((state, e), ""), "-").ljust(w) for e, w in zip(events, widths, strict=True)]
        lines.append(f"{state:<{first}}  " + "  ".join(cells).rstrip())
    counts = {v: sum(1 for x in grid.values() if x == v) for v in ("pass", "fail", "error", "skip")}
    lines.append(f"{len(grid)} cells: " + ", ".join(f"{n} {v}" for v, n in counts.items() if n)
                 + "  (- no case: omitted or not run)")
    return lines
