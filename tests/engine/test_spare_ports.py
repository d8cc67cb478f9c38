"""Cases that open connections of their own (ISN samples, half-open connections) never share a port."""

from __future__ import annotations

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_cases
from tcpconform.engine.run import spare_slices
from tcpconform.engine.steps import kind_of


def test_each_case_opening_connections_of_its_own_gets_ports_no_other_case_gets() -> None:
    cases = load_cases([bundled_cases()])
    spare = range(30000, 30800)
    slices = spare_slices(cases, spare)
    takers = {i for i, case in enumerate(cases) if any(kind_of(s).spare_ports for s in case.steps)}
    assert set(slices) == takers and len(takers) >= 2  # the ISN case and the half-open one, at least
    ports = [p for r in slices.values() for p in r]
    assert len(ports) == len(set(ports)) and all(p in spare for p in ports)
    for i in takers:
        need = sum(getattr(s, "count", 0) for s in cases[i].steps if kind_of(s).spare_ports)
        assert len(slices[i]) >= need, cases[i].id
