"""What a run records about its link: frames the link dropped are in results.json, and none from a
link that cannot drop any."""

from __future__ import annotations

from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_cases
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.run import execute
from tcpconform.targets.reference import open_reference


def _seed():  # type: ignore[no-untyped-def]
    return [c for c in load_cases([bundled_cases()]) if c.id == "seed-handshake"]


def test_a_link_that_drops_frames_says_how_many() -> None:
    ref = open_reference()
    ref.link.dropped = lambda: 3  # type: ignore[attr-defined]  # what a raw link reports after a burst
    result = execute(_seed(), ref.link, ref.target, get_profile("reference"))
    assert result.meta.frames_dropped == 3
    assert result.to_dict()["run"]["frames_dropped"] == 3


def test_an_in_process_link_records_no_drops() -> None:
    ref = open_reference()
    result = execute(_seed(), ref.link, ref.target, get_profile("reference"))
    assert result.meta.frames_dropped is None and "frames_dropped" not in result.to_dict()["run"]
