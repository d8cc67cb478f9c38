"""The JSON Schema of a case file, and its findings in words a case author understands.

``case.schema.json`` is the single description of a case file's structure: editors can use it as
is, and the loader validates every file against it.  jsonschema's own messages speak of schemas
("is not valid under any of the given schemas"); :func:`problems` turns each into what went wrong
in the file (``unknown field 'widnow' (did you mean 'window'?)``), at the path where it happened.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from tcpconform.cases.document import Path_
from tcpconform.cases.values import did_you_mean


@dataclass(frozen=True, slots=True)
class Problem:
    """A structural mistake: where (``key``: at the key of ``path[-1]`` rather than its value)."""

    path: Path_
    message: str
    key: bool = False


@cache
def case_schema() -> dict[str, Any]:
    """The schema as data (read once)."""
    text = resources.files(__package__).joinpath("case.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator_class() -> Any:
    """Draft 2020-12 with the types a case file means: an integer is never a float (JSON Schema
    counts ``5.0`` as one, and ``dataofs: 5.0`` would reach the encoder as a float), and a number is
    finite (``.nan`` passes every ``minimum`` and ``maximum``, since no comparison with it is true)."""
    import math

    import jsonschema  # imported here: validating is the only use, and the import is not free

    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine_many({
        "integer": lambda _, v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda _, v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and math.isfinite(v)),
    })
    return jsonschema.validators.extend(base, type_checker=checker)  # type: ignore[no-untyped-call]


@cache
def _validator() -> Any:
    return _validator_class()(case_schema())


def _step_modifiers() -> dict[str, list[str]]:
    """For each step modifier (``isn``, ``within``...), the step kinds that accept it."""
    defs = case_schema()["$defs"]
    out: dict[str, list[str]] = {}
    for ref in defs["step"]["oneOf"]:
        kind = ref["$ref"].rsplit("/", 1)[1]
        for key in defs[kind]["properties"]:
            if key != kind:
                out.setdefault(key, []).append(kind)
    return out


_PLACEHOLDER_STEP = {"wait": 1}
_STEP_PROBLEMS: dict[str, tuple[Problem, ...]] = {}
STEPS_REMEMBERED = 4096
"""Distinct steps whose mistakes are remembered (the bundled cases have about 320); beyond, the
memory starts afresh, so a long-lived process loading ever new files does not grow without bound."""


@cache
def _step_validator() -> Any:
    return _validator_class()({"$ref": "#/$defs/step", "$defs": case_schema()["$defs"]})


def _step_problems(step: Any) -> tuple[Problem, ...]:
    """One step's mistakes, remembered by content: cases repeat their steps (the matrix's prefixes
    hundreds of times), and validating a step is most of what loading costs."""
    key = json.dumps(step, sort_keys=True, default=str)
    found = _STEP_PROBLEMS.get(key)
    if found is None:
        seen: dict[Problem, None] = {}
        for err in _step_validator().iter_errors(step):
            seen.update(dict.fromkeys(_translate(err)))
        if len(_STEP_PROBLEMS) >= STEPS_REMEMBERED:
            _STEP_PROBLEMS.clear()
        found = _STEP_PROBLEMS[key] = tuple(seen)
    return found


def problems(data: Any) -> list[Problem]:
    """Every structural mistake in a case file's data, in words, at the path where it is."""
    out: dict[Problem, None] = {}  # one jsonschema error may stand for mistakes another one also names
    steps = data.get("steps") if isinstance(data, dict) else None
    if isinstance(steps, list) and steps:
        head = {**data, "steps": [_PLACEHOLDER_STEP]}  # the case less its steps, which go one by one
        for err in _validator().iter_errors(head):
            out.update(dict.fromkeys(_translate(err)))
        for i, step in enumerate(steps):
            out.update(dict.fromkeys(Problem(("steps", i, *p.path), p.message, p.key) for p in _step_problems(step)))
        return list(out)
    for err in _validator().iter_errors(data):
        out.update(dict.fromkeys(_translate(err)))
    return list(out)


def got(value: Any) -> str:
    """How a wrong value is quoted back: strings and numbers as written, containers by kind."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_TYPE_WORDS = {
    "string": "a string", "integer": "an integer", "number": "a number", "object": "a mapping",
    "array": "a list", "boolean": "true or false", "null": "nothing",
}


def describe(schema: dict[str, Any]) -> str:
    """What a schema accepts, as a noun phrase: ``an integer or a string``, ``one of MUST, ...``."""
    schema = _resolve(schema)
    if "const" in schema:
        return repr(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    if "oneOf" in schema or "anyOf" in schema:
        return " or ".join(dict.fromkeys(describe(b) for b in schema.get("oneOf", schema.get("anyOf", []))))
    if schema.get("pattern") and schema.get("description"):
        return str(schema["description"])
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    phrase = " or ".join(_TYPE_WORDS.get(t, t) for t in types) or "something else"
    items = schema.get("items")
    if types == ["array"] and isinstance(items, dict) and "enum" in items:
        phrase += " of " + ", ".join(map(str, items["enum"]))
    return phrase


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        resolved: dict[str, Any] = case_schema()["$defs"][ref.rsplit("/", 1)[1]]
        return resolved
    return schema


def _accepts_type(schema: dict[str, Any], value: Any) -> bool:
    """Whether a branch of a ``oneOf`` is about ``value``'s type (which branch the author meant)."""
    schema = _resolve(schema)
    if "const" in schema or "enum" in schema:
        choices = [schema["const"]] if "const" in schema else schema["enum"]
        return any(type(c) is type(value) for c in choices)
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    checks = {
        "string": lambda v: isinstance(v, str), "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list), "null": lambda v: v is None,
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    }
    return any(checks[t](value) for t in types if t in checks)


def _unknown_field(path: Path_, key: str, allowed: set[str], schema: dict[str, Any]) -> Problem:
    modifiers = _step_modifiers()
    kinds = [k for k in schema.get("required", []) if k in case_schema()["$defs"]]
    if kinds and key in modifiers:
        only = " or ".join(modifiers[key])
        return Problem((*path, key), f"{key!r} is not allowed on a {kinds[0]} step (only on {only})", True)
    hint = did_you_mean(key, allowed)
    if key == "<<":
        hint = " (YAML merge keys are not supported)"
    elif not hint:
        hint = f" (known: {', '.join(sorted(allowed))})"
    return Problem((*path, key), f"unknown field {key!r}{hint}", True)


def _translate(err: Any) -> list[Problem]:
    """One jsonschema error → the mistakes it stands for."""
    kw, path, value, arg = err.validator, tuple(err.absolute_path), err.instance, err.validator_value
    schema = err.schema if isinstance(err.schema, dict) else {}
    if kw == "additionalProperties" and isinstance(value, dict):
        allowed = set(schema.get("properties", {}))
        return [_unknown_field(path, k, allowed, schema) for k in value if k not in allowed]
    if kw == "required" and isinstance(value, dict):
        return [Problem(path, f"missing required field {k!r}") for k in arg if k not in value]
    if kw in ("oneOf", "anyOf"):
        return _translate_choice(err, path, value, arg)
    if kw == "enum":
        hint = did_you_mean(value, arg) if isinstance(value, str) else ""
        return [Problem(path, f"expected one of {', '.join(map(str, arg))} (got {got(value)}){hint}")]
    if kw in ("type", "const", "pattern"):
        return [Problem(path, f"expected {describe(schema)} (got {got(value)})")]
    if kw in ("minLength", "minItems", "minProperties") and arg == 1:
        return [Problem(path, "must not be empty")]
    if kw == "maxProperties" and isinstance(value, dict):
        return [Problem(path, f"expected only one of {', '.join(value)}")]
    if kw == "uniqueItems" and isinstance(value, list):
        seen: list[Any] = []
        for i, item in enumerate(value):
            if item in seen:
                return [Problem((*path, i), f"{got(item)} is listed twice")]
            seen.append(item)
    if kw == "minimum":
        return [Problem(path, f"expected at least {arg} (got {got(value)})")]
    if kw == "maximum":
        return [Problem(path, f"expected at most {arg} (got {got(value)})")]
    if kw in ("minItems", "maxItems"):
        return [Problem(path, f"expected {'at least' if kw == 'minItems' else 'at most'} {arg} items "
                              f"(got {len(value)})")]
    return [Problem(path, err.message)]


def _translate_choice(err: Any, path: Path_, value: Any, branches: list[Any]) -> list[Problem]:
    """A ``oneOf`` failed: find the branch the author meant and report its mistakes.

    Branches that each require their own key (the step kinds) are told apart by that key; others by
    the type of the value (a string notation versus a mapping, ``none`` versus a list).
    """
    resolved = [_resolve(b) for b in branches]
    keys = [b.get("required", [None])[0] if b.get("type") == "object" else None for b in resolved]
    if isinstance(value, dict) and all(keys):
        present = [i for i, k in enumerate(keys) if k in value]
        if len(present) > 1:
            names = [k for k in value if k in keys]  # as written, so the second one is pointed at
            return [Problem((*path, names[1]), f"a step has exactly one of {', '.join(map(str, keys))} "
                                               f"(this one has {' and '.join(map(str, names))})", True)]
        if not present:
            allowed = {k for b in resolved for k in b.get("properties", {})}
            unknown = [k for k in value if k not in allowed]
            if unknown:
                return [_unknown_field(path, k, allowed, {}) for k in unknown]
            return [Problem(path, f"expected one of {', '.join(map(str, keys))} "
                                  f"(got {', '.join(value) or 'an empty mapping'})")]
        chosen = present
    else:
        chosen = [i for i, b in enumerate(branches) if _accepts_type(b, value)]
    if len(chosen) == 1 and "const" not in _resolve(branches[chosen[0]]):
        out: list[Problem] = []
        for sub in err.context:
            if sub.relative_schema_path and sub.relative_schema_path[0] == chosen[0]:
                out.extend(_translate(sub))
        if out:
            return out
    if all(keys):
        expected = f"a mapping with one of {', '.join(map(str, keys))}"
    else:
        expected = " or ".join(dict.fromkeys(describe(b) for b in branches))
    return [Problem(path, f"expected {expected} (got {got(value)})")]
