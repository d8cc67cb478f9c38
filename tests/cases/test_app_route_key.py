"""The case key ``route`` (the application's source route for its ``app: connect``, RFC 9293
MUST-51): what it reads into, and each mistake reported at its file, line and field."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.cases import BASE, LINE, errors, replace

from tcpconform.cases.load import load_cases

F = "cases/x.yaml"
TESTER = "tester: {window: 5000, mss: 512}"
Write = Callable[..., str]


def _with_route(route: str) -> str:
    return replace(BASE, TESTER, f"{TESTER}\nroute: {route}")


def test_a_route_reads_into_the_case(write_case: Write) -> None:
    case = load_cases([write_case(_with_route('[tester, "198.51.100.9"]'))])[0]
    assert case.route == ("tester", "198.51.100.9")


def test_a_case_without_a_route_has_none(write_case: Write) -> None:
    assert load_cases([write_case(BASE)])[0].route == ()


@pytest.mark.parametrize(("route", "field", "message"), [
    ("[tester, peer]", "route[1]", "'peer' is neither an IPv4 address nor tester"),
    ('["2001:db8::1"]', "route[0]", "neither an IPv4 address"),
    ("[]", "route", ""),
    ("[tester, tester, tester, tester, tester, tester, tester, tester, tester]", "route", ""),
])
def test_mistakes_name_file_line_and_field(write_case: Write, route: str, field: str, message: str) -> None:
    found = errors(write_case(_with_route(route)))
    assert len(found) == 1, found
    assert found[0].startswith(f"{F}:{LINE['tester'] + 1}:"), found
    assert f"{field}: " in found[0] and message in found[0], found
