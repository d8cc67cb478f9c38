"""Every frame of a run against the lab's Linux reads the same through the struct decoder and through Scapy."""

from __future__ import annotations

from support.wirelab import LAB, needs_root

from tcpconform.bench.scapy_reference import decode_scapy
from tcpconform.cases.bundled import bundled_cases
from tcpconform.cases.load import load_cases
from tcpconform.cases.profiles import get_profile
from tcpconform.engine.run import execute
from tcpconform.session import lab_session
from tcpconform.wire import decode

pytestmark = needs_root


def test_linux_frames_decode_as_scapy_reads_them(lab) -> None:  # type: ignore[no-untyped-def]
    cases = [c for c in load_cases([bundled_cases()]) if c.area in ("seed", "data", "options")]
    with lab_session("linux", lab_name=LAB) as session:
        result = execute(cases, session.link, session.target, get_profile(session.profile), jobs=4,
                         base_port=session.base_port)
    frames = [rec.frame for case in result.cases for rec in case.segments if rec.frame is not None]
    incoming = [rec.frame for case in result.cases for rec in case.segments if rec.direction == "in" and rec.frame]
    assert len(incoming) > 20
    for frame in frames:
        assert decode(frame) == decode_scapy(frame), frame.hex()
