"""A run: which cases, against which target, over which link — put together once, at start-up.

The CLI, ``selftest``, the benchmark and the tests all go through :func:`execute`, so there is one
way a run is assembled and one results model coming out of it.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from tcpconform import __version__
from tcpconform.cases.model import TestCase
from tcpconform.cases.profiles import Profile
from tcpconform.engine.case import CaseRun
from tcpconform.engine.env import CaseSettings
from tcpconform.engine.scheduler import Scheduler
from tcpconform.links.base import Clock, Link
from tcpconform.results import CaseResult, RunMeta, RunResult, SessionMeta
from tcpconform.targets.base import Target
from tcpconform.tcp.segment import FourTuple, is_ipv6

BASE_PORT = 40000
"""First source port of a run that is given none (an in-process run's)."""
PORT_SPAN = 1000
"""Source ports a run may use, from its ``base_port``: one per case, the rest spare."""
_RESULTS_CLOCK: dict[Clock, str] = {"virtual": "virtual", "kernel": "realtime"}
"""A link's clock as results.json names it (the pcap writer reads it: kernel times are real times)."""


def execute(
    cases: Sequence[TestCase],
    link: Link,
    target: Target,
    profile: Profile,
    *,
    jobs: int = 1,
    tester_ip: str | None = None,
    base_port: int = BASE_PORT,
    port_span: int = PORT_SPAN,
    tester_isn: int | None = None,
    session: SessionMeta | None = None,
    on_case_done: Callable[[CaseResult], None] | None = None,
) -> RunResult:
    """Run ``cases`` and return the results; each case gets its own source port.

    The run owns ``port_span`` source ports from ``base_port``: one per case, and the rest are
    spare, for a case that samples many connections (it runs alone, so one set of spares is enough).
    """
    settings = CaseSettings(profile=profile, tester_isn=tester_isn, target_salt=target.data_salt)
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
    run_meta = RunMeta(
        target=target.name,
        target_address=f"[{target.ip}]:{target.port}" if is_ipv6(target.ip) else f"{target.ip}:{target.port}",
        family="ipv6" if is_ipv6(target.ip) else "ipv4",
        link=link.name,
        clock=_RESULTS_CLOCK[link.clock],
        profile=profile.name,
        jobs=jobs,
        started=started.isoformat(timespec="seconds"),
        duration=round(time.perf_counter() - wall0, 6),
        link_time=round(sum(r.duration for r in results), 6),
        versions={"tcpconform": __version__, "python": platform.python_version()},
        strays=[s.segment.summary() for s in scheduler.strays],
        frames_dropped=link.dropped(),
        unverified_checksums=sum(r.unverified_checksums for r in results),
        session=session,
    )
    return RunResult(run_meta, list(results))
