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
from tcpconform.engine.addressing import case_key
from tcpconform.engine.case import CaseRun, missing_capabilities, opens_actively, wants_fresh_port
from tcpconform.engine.env import CaseSettings
from tcpconform.engine.health import PROBE_PORTS, RESTART_WAIT, Health
from tcpconform.engine.scheduler import Scheduler
from tcpconform.engine.steps import kind_of
from tcpconform.links.base import Clock, Link
from tcpconform.results import CaseResult, RunMeta, RunResult, SessionMeta
from tcpconform.targets.base import Target
from tcpconform.targets.device import DeviceTarget, Unserved
from tcpconform.targets.service import ServiceSet
from tcpconform.tcp.segment import is_ipv6

BASE_PORT = 40000
"""First source port of a run that is given none (an in-process run's)."""
PORT_SPAN = 1000
"""Source ports a run may use, from its ``base_port``: one per case, one more per case that
reconnects, the top ``PROBE_PORTS`` for liveness probes, the rest spare."""
RETRY_PORTS = 32
"""Source ports kept from the spare ones, when there are enough, for the cases run again alone
after the tester was late (:attr:`tcpconform.engine.scheduler.Scheduler.retry_ports`)."""
MAX_CASES = (PORT_SPAN - PROBE_PORTS) // 2
"""The most cases one run holds: each may need two source ports of its own (its first and, after a
``reconnect`` step, a fresh one)."""
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
    health: bool = True,
    restart: Callable[[], None] | None = None,
    restart_wait: float = RESTART_WAIT,
    keep_interrupted: bool = False,
) -> RunResult:
    """Run ``cases`` and return the results; each case gets its own source port.

    The run owns ``port_span`` source ports from ``base_port``: one per case, then one more for each
    case with a ``reconnect`` step (its fresh port), the top ``PROBE_PORTS`` for liveness probes
    (``health``: see :mod:`tcpconform.engine.health`), and the rest spare, for a case that samples
    many connections (it runs alone, so one set of spares is enough).  The four ranges never
    overlap, so no case meets a 4-tuple another part of the run used; the top :data:`RETRY_PORTS` of
    the spare ones (when there are twice as many) are for cases run again alone after the tester was
    late.  A case whose target's application connects out (``app: connect``) has the target bind the number of the case's own
    source port as its local port: unique in the run, so each connection it opens is told apart by
    its 4-tuple, and a port in the tester's range is one the target's own services do not use.  ``restart`` brings a target
    back that stopped answering, within ``restart_wait`` s.  Ctrl-C (``KeyboardInterrupt``) goes
    on up, unless ``keep_interrupted``: then the results come back with ``meta.interrupted``, the
    unfinished cases marked not run, for the caller to write before it stops.
    """
    settings = CaseSettings(profile=profile, tester_isn=tester_isn)
    top = base_port + port_span
    reconnecting = [i for i, case in enumerate(cases) if wants_fresh_port(case)]
    fresh = {i: base_port + len(cases) + n for n, i in enumerate(reconnecting)}
    spare = range(base_port + len(cases) + len(reconnecting), top - PROBE_PORTS)
    retry = range(spare.stop - RETRY_PORTS, spare.stop) if len(spare) >= 2 * RETRY_PORTS else range(0)
    spare = range(spare.start, retry.start) if retry else spare
    checks = Health(range(top - PROBE_PORTS, top), restart, restart_wait) if health else None
    runs = []
    slices = spare_slices(cases, spare)
    for i, case in enumerate(cases):
        on = _target_for(case, target)
        port = _closed_port(target) if case.closed_port else on.port
        if opens_actively(case):  # the target connects from a port of the run's: the tester's own number
            port = base_port + i
        runs.append(CaseRun(case, case_key(case, tester_ip or link.local_ip, base_port + i, on, port), link, on,
                            settings, spare_ports=slices.get(i, range(0)), fresh_port=fresh.get(i)))
    started = datetime.now(UTC)
    wall0 = time.perf_counter()
    scheduler = Scheduler(link, target, jobs=jobs, on_case_done=on_case_done, health=checks, retry_ports=list(retry))
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
        target_restarts=scheduler.restarts or None,
        target_control_error=scheduler.control_error,
        interrupted=scheduler.interrupted or None,
        frames_dropped=link.dropped(),
        unverified_checksums=sum(r.unverified_checksums for r in results),
        session=session,
    )
    if scheduler.interrupted and not keep_interrupted:
        raise KeyboardInterrupt
    return RunResult(run_meta, list(results))


def _target_for(case: TestCase, target: Target) -> Target:
    """The target a case runs on: of a :class:`ServiceSet`, the quietest service that gives it
    what it needs; of a device that connects by itself (``--listen``), the device for a case whose
    target connects out, else its own service (none named: :class:`Unserved`, skipped); otherwise
    the target itself."""
    if isinstance(target, DeviceTarget) and not opens_actively(case):
        return _target_for(case, target.serves) if target.serves is not None else Unserved(target.ip)
    if isinstance(target, ServiceSet):
        return target.fitting(lambda service: missing_capabilities(case, service))
    return target


def _closed_port(target: Target) -> int:
    """A port next to the target's on which nothing of the run listens: a closed-port case's."""
    used = target.ports if isinstance(target, ServiceSet) else frozenset({target.port})
    port = target.port + 1
    while port in used:
        port += 1
    return port


def spare_slices(cases: Sequence[TestCase], spare: range) -> dict[int, range]:
    """Each case whose steps open connections of their own (ISN samples, half-open connections) gets
    ports of the spare range no other case gets, as many as its steps open: two such cases never meet
    on a 4-tuple, which a target may still hold for the first (a PyTCP listener answered no SYN on a
    4-tuple a case before had just reset).  What is left over goes to the last of them."""
    need = {i: sum(getattr(step, "count", 0) + 1 for step in case.steps if kind_of(step).spare_ports)
            for i, case in enumerate(cases)}
    takers = [i for i, n in need.items() if n]
    out: dict[int, range] = {}
    at = spare.start
    for n, i in enumerate(takers):
        end = spare.stop if n == len(takers) - 1 else min(spare.stop, at + need[i])
        out[i] = range(at, end)
        at = end
    return out
