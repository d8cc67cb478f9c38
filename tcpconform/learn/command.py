"""``tcpconform learn``: learn the target's machine, compare it with the reference responder's, and
write each difference as a case file.

Exit codes as ``run``'s gate: 0 the machines agree (or nothing was compared), 1 they differ (a case
file per difference), 2 a usage or set-up error, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import click

from tcpconform.errors import SetupError, UsageError

__all__ = ["RATE_LIMIT", "learn_command", "rate_limit_off"]

class _SetupFailure(click.ClickException):
    exit_code = 2  # as the rest of the command line: what the user or the environment got wrong


RATE_LIMIT = "net/ipv4/tcp_invalid_ratelimit"
"""Linux's least time between two answers of one connection to out-of-window segments (and challenge
ACKs): 500 ms by default, so whether the learner's second such segment is answered is timing."""


@contextmanager
def rate_limit_off(lab_name: str) -> Iterator[None]:
    """The lab's Linux without :data:`RATE_LIMIT` while it is learnt (the lab is this project's own
    namespace; the value it had is put back), said on the way in: every answer is then the kernel's
    processing, not the clock's, and the machine one."""
    from tcpconform.lab.netns import in_netns
    from tcpconform.lab.spec import lab_spec, read_sysctl, write_sysctl

    ns = lab_spec(lab_name).target_ns
    with in_netns(ns):
        was = read_sysctl(RATE_LIMIT)
        if was is not None:
            write_sysctl(RATE_LIMIT, "0")
    if was is None:  # a kernel without the limit: nothing to take out
        yield
        return
    click.echo(f"learning lab Linux with {RATE_LIMIT.replace('/', '.')}=0 in {ns} (it was {was}; put back after)")
    try:
        yield
    finally:
        with in_netns(ns):
            write_sysctl(RATE_LIMIT, was)


DIFFERENCES = 5
"""The most differences written out, shortest first."""


@click.command("learn")
@click.option("--fault", "faults", multiple=True, metavar="NAME",
              help="A fault of the reference responder learnt (repeatable; in-process or --lab reference).")
@click.option("--lab", "lab_target", type=click.Choice(["linux", "reference"]), default=None,
              help="Learn this lab target on the wire (root) instead of the reference in-process.")
@click.option("--lab-name", default="0", show_default=True, help="The lab to use (made for the run if not up).")
@click.option("--target", "target_ip", default=None, metavar="IP",
              help="A device on a wire serving --port (echo or any service that answers by itself; root).")
@click.option("--port", "port", type=click.IntRange(1, 65535), default=7, show_default=True, help="With --target.")
@click.option("--agent", metavar="SPEC", default=None,
              help="With --target: its agent (as for run), whose application the WRITE and CLOSE letters call.")
@click.option("--iface", default=None, help="With --target: the interface to it (default: the route's).")
@click.option("--source-ip", "source_ip", default=None, help="With --target: the tester's address on that link.")
@click.option("--quiet", "quiet_ms", type=click.IntRange(1, 10_000), default=300, show_default=True,
              help="Milliseconds of silence that end a step's answer (virtual in-process: costs nothing).")
@click.option("--seed", type=int, default=1, show_default=True, help="The equivalence oracle's random seed.")
@click.option("--walks", type=click.IntRange(1, 1000), default=20, show_default=True,
              help="Random walks per state of the equivalence oracle.")
@click.option("--repeat", type=click.IntRange(1, 20), default=1, show_default=True,
              help="How many times each query is asked: answers that differ end the run naming the sequence "
                   "(on a wire, 2 or 3 catch a target whose answers depend on timing or loss).")
@click.option("--app/--no-app", "app", default=None,
              help="The application's letters too (WRITE, CLOSE: its calls through the target's agent). "
                   "Default: where the target has an application to call (in-process, the lab).")
@click.option("--compare/--no-compare", default=True, show_default=True,
              help="Compare with the clean reference responder's machine (learnt in-process) and export the differences.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("reports/learn"),
              show_default=True, help="Where the DOT files and the case files go.")
def learn_command(faults: tuple[str, ...], lab_target: str | None, lab_name: str, target_ip: str | None, port: int,
                  agent: str | None, iface: str | None, source_ip: str | None, quiet_ms: int, seed: int, walks: int, repeat: int,
                  app: bool | None, compare: bool, out_dir: Path) -> None:
    """Learn the target's TCP as a Mealy machine (AALpy's L*) over abstract segments, one connection a query.

    \b
    Examples:
      tcpconform learn --fault ignore-fin          the reference with a fault, against the clean one
      tcpconform learn --no-app                    the segments' letters alone
      sudo tcpconform learn --lab linux --quiet 50 --repeat 2   lab Linux on the wire
      sudo tcpconform learn --target 10.0.2.2 --port 7 --iface tap0 --source-ip 10.0.2.15 --quiet 50
      sudo tcpconform learn --target 198.18.0.2 --port 8000 --agent udp:10.0.0.2:4242 --quiet 50   its agent too
    """
    from tcpconform.run import check_faults

    try:
        check_faults(faults)
    except UsageError as err:
        raise click.UsageError(str(err)) from None
    from tcpconform.learn.export import case_text
    from tcpconform.learn.machine import Learned, NonDeterministic, learn, learn_reference
    from tcpconform.learn.mapper import APP_INPUTS, INPUTS
    from tcpconform.learn.report import Difference, LearnReport, write_junit, write_report
    from tcpconform.learn.sul import PORTS, LinkSUL
    from tcpconform.links.base import Link
    from tcpconform.targets.base import Capability, Target
    from tcpconform.targets.reference import REFERENCE_PORT, open_reference

    quiet = quiet_ms / 1000
    try:
        with ExitStack() as stack:
            link: Link
            target: Target
            ports = PORTS
            name = "the reference responder"
            if lab_target is not None and target_ip is not None:
                raise UsageError("--lab or --target, not both")
            if agent is not None and target_ip is None:
                raise UsageError("--agent goes with --target (the lab and the bundled responder bring their own agents)")
            if lab_target is None and target_ip is None:
                ref = open_reference(faults, isn=5000)
                link, target, name = ref.link, ref.target, "the reference responder" + (
                    f" with {', '.join(faults)}" if faults else "")
            else:
                from tcpconform.engine.run import PORT_SPAN
                from tcpconform.session import lab_session, open_session

                session = stack.enter_context(
                    lab_session(lab_target, lab_name=lab_name, faults=faults) if lab_target is not None
                    else open_session(target=target_ip, port=port, iface=iface, source_ip=source_ip, agent=agent))
                if lab_target == "linux":
                    stack.enter_context(rate_limit_off(lab_name))
                link, target, name = session.link, session.target, session.target.name
                ports = range(session.base_port, session.base_port + PORT_SPAN)
            can_call = Capability.APP in target.capabilities
            if app and not can_call:
                raise UsageError(f"--app: {name} has no application to call (no agent); its service answers by itself")
            inputs = (*INPUTS, *APP_INPUTS) if (can_call if app is None else app) else tuple(INPUTS)
            got = learn(link, target, quiet=quiet, seed=seed, walks_per_state=walks, ports=ports, repeat=repeat,
                        inputs=inputs)
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / "machine.dot").write_text(got.machine.to_dot("target"))
            click.echo(f"{name}: {len(got.machine.delta)} states, {got.queries} queries, {got.steps} steps, "
                       f"{got.seconds:.1f} s; {out_dir / 'machine.dot'}")
            base: Learned | None = None
            found: list[Difference] = []
            if compare:
                # the same application as the target's: a service target is compared with the reference serving it
                served = [("echo", port)] if target_ip is not None and agent is None else []

                def fresh() -> tuple[Link, Target]:
                    ref = open_reference((), port=port if served else REFERENCE_PORT, isn=5000, services=served)
                    return ref.link, ref.target

                base, candidates = learn_reference(fresh, got.machine, 2 * DIFFERENCES, quiet=quiet, seed=seed,
                                                   walks_per_state=walks, inputs=inputs)
                (out_dir / "reference.dot").write_text(base.machine.to_dot("reference"))
                asked = LinkSUL(link, target, quiet, ports)
                for letters in candidates:
                    # asked of the target again: its machine, too, may have stopped short
                    again = asked.query(tuple(letters))[-1]
                    if again == base.machine.run(letters)[-1]:
                        click.echo(f"not a difference: {' '.join(letters)}: asked again, the target answered "
                                   f"{again}, as the reference (its machine said {got.machine.run(letters)[-1]})")
                        continue
                    n = len(found) + 1
                    path = out_dir / f"difference-{n}.yaml"
                    ref_link, ref_target = fresh()
                    path.write_text(case_text(f"learned-difference-{n}", letters, ref_link, ref_target, quiet, name))
                    found.append(Difference(tuple(letters), base.machine.run(letters)[-1], again, path))
                    if len(found) == DIFFERENCES:
                        break
    except (SetupError, UsageError, PermissionError) as err:
        raise _SetupFailure(str(err)) from None
    except NonDeterministic as err:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_junit(out_dir / "junit.xml", name, None, (), compare, error=str(err))
        raise _SetupFailure(f"the target answered the same input sequence two ways, so it has no one machine over "
                            f"these letters (a longer --quiet may settle answers that are timing):\n{err}") from None
    page = write_report(LearnReport(name, got, base, tuple(found)), out_dir / "report.html")
    junit = write_junit(out_dir / "junit.xml", name, got, found, compare)
    if base is not None and not found:
        click.echo(f"the same machine as the reference responder's ({len(base.machine.delta)} states)")
    for n, diff in enumerate(found, 1):
        click.echo(f"difference {n}: {' '.join(diff.letters)}: reference {diff.reference}, target {diff.target}; "
                   f"{diff.case_file}")
    click.echo(f"html: {page}\njunit: {junit}")
    if found:
        raise SystemExit(1)
