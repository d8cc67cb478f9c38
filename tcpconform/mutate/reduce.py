"""A crash's shortest exchange (delta debugging over the steps before the mutated segment), and the
case file that reproduces it.

:func:`ddmin` is Zeller and Hildebrandt's minimising delta debugging: it keeps removing chunks of
the prefix, halving the chunk size whenever no chunk can go, while the test still says "crashes".
The test is :class:`~tcpconform.mutate.campaign.Campaign`'s: the target crashes on the reduced
mutant *and* the clean reference responder survives it, so what is left is still a valid exchange
(a removed ``app: listen`` makes the reference refuse the new connection too, and is kept).

:func:`reproducer` writes the reduced mutant as a case file: the seed case file's own steps that
were kept, as written, then the mutated send in the mapping form, then the survival check, with
the rule of the mutated field as a requirement.  It is loaded back before it is trusted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tcpconform.cases.model import SendStep
from tcpconform.cases.notation import render_options
from tcpconform.cases.segspec import AnyValue, SegmentSpec, spec_str
from tcpconform.mutate.mutants import Mutant

__all__ = ["ddmin", "reproducer"]


def ddmin(items: Sequence[int], fails: Callable[[list[int]], bool]) -> list[int]:
    """A 1-minimal subsequence of ``items`` on which ``fails`` still holds (it holds on ``items``)."""
    current = list(items)
    chunks = 2
    while len(current) >= 1:
        size = max(1, len(current) // chunks)
        parts = [current[i:i + size] for i in range(0, len(current), size)]
        reduced = False
        for part in parts:
            rest = [i for i in current if i not in part]
            if fails(rest):
                current, chunks, reduced = rest, max(chunks - 1, 2), True
                break
        if not reduced:
            if size == 1:
                break
            chunks = min(len(current), chunks * 2)
    return current


def _value(value: Any) -> Any:
    return value if isinstance(value, int) else spec_str(value)


def send_mapping(spec: SegmentSpec) -> dict[str, Any]:
    """A sent segment spec in the case format's mapping form (Scapy's field names)."""
    assert not isinstance(spec.flags, AnyValue)
    out: dict[str, Any] = {"flags": spec.flags.tcpdump()}
    for key, value in (("seq", spec.seq), ("ack", spec.ack), ("window", spec.window), ("len", spec.length),
                       ("urgptr", spec.urgptr)):
        if value is not None:
            out[key] = _value(value)
    if spec.options is not None:
        out["options"] = render_options(spec.options)
    if spec.payload is not None:
        out["payload"] = {"hex": spec.payload.hex()}
    for key, extra in (("chksum", spec.chksum), ("reserved", spec.reserved), ("dataofs", spec.dataofs)):
        if extra is not None:
            out[key] = extra
    return out


def _source(mutant: Mutant) -> dict[str, Any]:
    data = yaml.safe_load(Path(mutant.seed.loc.file).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or len(data.get("steps") or []) != len(mutant.seed.steps):
        raise ValueError(f"{mutant.seed.loc.file}: its steps do not read back one for one")
    return data


def reproducer(mutant: Mutant, case_id: str, found_on: str, fault: str | None) -> str:
    """The case file (text) of ``mutant`` (reduced or not); ``fault``: the reference's fault it was
    found with, which the case then names as the one it catches."""
    data = _source(mutant)
    steps = [data["steps"][i] for i in mutant.kept]
    send = data["steps"][mutant.index]
    sent = mutant.case.steps[len(mutant.kept)]
    assert isinstance(sent, SendStep)
    mutated = {**(send if isinstance(send, dict) else {}), "send": send_mapping(sent.segment)}
    if mutant.mutation.length_delta:
        mutated["ip"] = {"length_delta": mutant.mutation.length_delta}
    rule = mutant.mutation.rule
    survive = {"id": rule.id, "ref": rule.ref, "level": rule.level, **({"rid": rule.rid} if rule.rid else {}),
               "text": f"{rule.text} Whatever the target makes of the segment, it still answers a new connection."}
    tail_source = yaml.safe_load(resources.files(__package__).joinpath("tail.yaml").read_text(encoding="utf-8"))
    doc: dict[str, Any] = {
        "id": case_id,
        "title": f"Mutated {mutant.mutation.field}: the target survives {mutant.mutation.name} "
                 f"in the state {mutant.seed.id} reaches",
        "description": (f"Written by tcpconform mutate against {found_on}: {mutant.seed.id}'s steps "
                        f"{', '.join(str(i + 1) for i in mutant.kept) or '(none)'} as written, then its send step "
                        f"{mutant.index + 1} with {mutant.mutation.name} ({mutant.segment}).  The target stopped "
                        "answering after it; the clean reference responder goes on.  Then a new connection from a "
                        "fresh source port must be answered.\n"),
        "requirements": [r for r in data.get("requirements", []) if r.get("id") != rule.id] + [survive],
    }
    if fault:
        doc["faults"] = [fault]
    else:
        doc["no_fault"] = f"written by tcpconform mutate against {found_on}"
    doc["may_crash"] = True
    for key in ("numbering", "tester", "needs", "family"):
        if key in data:
            doc[key] = data[key]
    doc["steps"] = [*steps, mutated, *tail_source["steps"]]
    return yaml.safe_dump(doc, sort_keys=False, width=110, allow_unicode=True)
