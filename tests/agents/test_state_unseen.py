"""A target whose agent cannot always see the TCP state (``"state": null``, as the C agent answers for
a socket the application closed or one still in the listen backlog): no case fails for it.  A state
step it cannot answer is judged from the wire, as without an agent, or skipped; never failed."""

from __future__ import annotations

from collections import Counter

import pytest

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_cases
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.run import execute
from tcpconform.targets.reference import open_reference
from tcpconform.tcp.segment import FourTuple


@pytest.mark.parametrize("seen", ["never", "first-only"])
def test_a_state_the_agent_cannot_see_fails_no_case(seen: str) -> None:
    cases = load_cases([bundled_cases()])
    ref = open_reference()
    real, asked = ref.target.state, Counter[FourTuple]()

    def partly_blind(key: FourTuple) -> str | None:
        asked[key] += 1
        return real(key) if seen == "first-only" and asked[key] == 1 else None

    ref.target.state = partly_blind  # type: ignore[method-assign]
    result = execute(cases, ref.link, ref.target, get_profile("reference"), jobs=16)
    bad = [(c.id, c.reason) for c in result.cases if c.verdict in ("fail", "error")]
    assert bad == []
    assert sum(asked.values()) > len(cases)  # the state steps did ask
