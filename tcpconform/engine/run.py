"""A run: which cases, against which target, over which link — put together once, at start-up.

The CLI, ``selftest``, the benchmark and the tests all go through :func:`execute`, so there is one
way a run is assembled and one results model coming out of it.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tcpconform import __version__
from tcpconform.cases.model import TestCase
from tcpconform.cases.profiles import Profile
from tcpconform.engine import CaseRun, CaseSettings, Scheduler
from tcpconform.links.base import Link
from tcpconform.results import CaseResult, RunMeta, RunResult, SessionMeta
from tcpconform.targets.base import Target
from tcpconform.tcp.segment import FourTuple, is_ipv6

REFERENCE_IP = "192.0.2.2"
TESTER_IP = "192.0.2.1"
"""In-process addresses are documentation addresses (TEST-NET-1, RFC 5737; 2001:db8::/32, RFC 3849):
nothing in-process ever reaches a network, and a pcap of it says so."""
REFERENCE_IP6 = "2001:db8::2"
TESTER_IP6 = "2001:db8::1"
REFERENCE_PORT = 8000
BASE_PORT = 40000


@dataclass
class Reference:
    """The bundled reference responder in this process, with its link and target control."""

    link: Link
    target: Target
    faults: frozenset[str] = field(default_factory=frozenset)


def open_reference(faults: Sequence[str] = (), port: int = REFERENCE_PORT, *, ipv6: bool = False,
                   isn: int | None = None) -> Reference:
    """The default target: the reference responder, its application driven by the cases; over IPv6
    with ``ipv6``.  ``isn`` pins every connection's ISN (default: RFC 6528's, which moves with the clock).
    """
    from tcpconform.links.inprocess import InProcessLink, VirtualClock
    from tcpconform.responder import AppConfig, Responder, ResponderConfig
    from tcpconform.targets.base import ReferenceTarget

    clock = VirtualClock()
    responder = Responder(ResponderConfig(ip=REFERENCE_IP6 if ipv6 else REFERENCE_IP, port=port,
                                          app=AppConfig(mode="agent"), faults=frozenset(faults), isn=isn))
    link = InProcessLink(responder, clock, local_ip=TESTER_IP6 if ipv6 else TESTER_IP)
    target = ReferenceTarget(responder, clock)
    return Reference(link, target, frozenset(faults))


def execute(
    cases: Sequence[TestCase],
    link: Link,
    target: Target,
    profile: Profile,
    *,
    jobs: int = 1,
    tester_ip: str | None = None,
    base_port: int = BASE_PORT,
    port_span: int = 1000,
    tester_isn: int | None = None,
    session: SessionMeta | None = None,
    on_case_done: Callable[[CaseResult], None] | None = None,
) -> RunResult:
    """Run ``cases`` and return the results; each case gets its own source port.

    The run owns ``port_span`` source ports from ``base_port``: one per case, and the rest are
    spare, for a case that samples many connections (it runs alone, so one set of spares is enough).
    """
    from tcpconform.tcp.payload import TARGET_SALT

    settings = CaseSettings(profile=profile, tester_isn=tester_isn,
                            target_salt=getattr(target, "data_salt", TARGET_SALT))
    spare = range(base_port + len(cases), base_port + port_span)
    runs = [
        CaseRun(case, FourTuple(tester_ip or link.local_ip, base_port + i, target.ip,
                                target.port + 1 if case.closed_port else target.port), link, target, settings,
                spare_ports=spare)
        for i, case in enumerate(cases)
    ]
    started = datetime.now(UTC)
    wall0 = time.perf_counter()
    scheduler = Scheduler(link, target, jobs=jobs, on_case_done=on_case_done)
    results = scheduler.run(runs)
    dropped = getattr(link, "dropped", None)
    run_meta = RunMeta(
        target=target.name,
        target_address=f"[{target.ip}]:{target.port}" if is_ipv6(target.ip) else f"{target.ip}:{target.port}",
        family="ipv6" if is_ipv6(target.ip) else "ipv4",
        link=link.name,
        clock=getattr(link, "clock_kind", "realtime"),
        profile=profile.name,
        jobs=jobs,
        started=started.isoformat(timespec="seconds"),
        duration=round(time.perf_counter() - wall0, 6),
        link_time=round(sum(r.duration for r in results), 6),
        versions={"tcpconform": __version__, "python": platform.python_version()},
        strays=[s.segment.summary() for s in scheduler.strays],
        frames_dropped=dropped() if dropped is not None else None,
        session=session,
    )
    return RunResult(run_meta, list(results))
