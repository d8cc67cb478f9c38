"""The ``tcpconform`` command line.

Imports are deferred into the commands: ``--help`` and ``list`` must not pay for Scapy or the
engine.  Exit codes, one meaning each (:func:`entry`): 0 the gate passed, 1 the gate failed, 2 a
usage or set-up error (bad case file, unknown fault, the environment), 3 an internal error of
tcpconform's own (a bug: please report it), 130 interrupted (Ctrl-C, as shells expect).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tcpconform import interrupts
from tcpconform.learn.command import learn_command
from tcpconform.mutate.command import mutate_command

if TYPE_CHECKING:
    from tcpconform.cases.model import TestCase
    from tcpconform.results import CaseResult

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

F = TypeVar("F", bound=Callable[..., Any])


class UsageFailure(click.ClickException):
    exit_code = EXIT_USAGE


@contextmanager
def _user_errors() -> Iterator[None]:
    """What the user or the environment got wrong, as a message and exit code 2, never a traceback.

    ``PermissionError`` too: opening a namespace, a raw socket or a firewall table without the
    privileges it takes raises it from the standard library, below any layer that could word it.
    """
    from tcpconform.errors import SetupError, UsageError

    try:
        yield
    except (SetupError, UsageError, PermissionError) as err:
        raise UsageFailure(str(err)) from None


def _load(cases: tuple[Path, ...], ids: tuple[str, ...], keywords: tuple[str, ...], quick: bool | None = None) -> list[TestCase]:
    from fnmatch import fnmatchcase

    from tcpconform.cases.bundled import bundled_cases
    from tcpconform.cases.document import CaseFileError
    from tcpconform.cases.load import load_cases
    from tcpconform.cases.long import leave_out_long, long_note

    paths = list(cases) or [bundled_cases()]
    for p in paths:
        if not Path(p).exists():
            raise UsageFailure(f"{p}: no such file or folder")
    try:
        loaded = load_cases(paths, (lambda i: any(fnmatchcase(i, p) for p in ids)) if ids and not keywords else None)
    except CaseFileError as err:
        raise UsageFailure(f"invalid test case file(s):\n{err}") from None
    selected = [c for c in loaded if (not ids or any(fnmatchcase(c.id, pat) for pat in ids))
                and (not keywords or any(k.lower() in f"{c.id} {c.title} {c.area}".lower() for k in keywords))]
    selected, left = leave_out_long(selected, bool(quick))
    if quick is not None and (note := long_note(selected, left)):  # a run: what it does with its long cases
        click.echo(note, err=True)
    if not selected:
        raise UsageFailure("no test case matches the selection" + (f" {' '.join(ids)}" if ids else ""))
    return selected


def _check_faults(faults: tuple[str, ...]) -> None:
    from tcpconform.run import check_faults

    with _user_errors():
        check_faults(faults)


_cases_option = click.option(
    "--cases", "cases", multiple=True, type=click.Path(path_type=Path),
    help="Case file or folder (repeatable). Default: the bundled testcases/.",
)
_select_options = [
    click.argument("ids", nargs=-1),
    click.option("-k", "keywords", multiple=True, help="Only cases whose id, title or area contains this (repeatable: any)."),
]


_quick_option = click.option("--quick", is_flag=True, help="Leave out the long cases (minutes of mandated waiting each).")


def _select(f: F) -> F:
    for opt in reversed(_select_options):
        f = opt(f)
    return _cases_option(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tcpconform")
def main() -> None:
    """Packet-level TCP conformance tester.

    Test cases script exact segment exchanges; a run drives them segment by segment against a
    target (by default the bundled reference responder, in this process, no privileges needed)
    and reports, per case, pass or fail with the RFC clause, expected vs observed segments and the
    step's file:line.
    """


@main.command("list")
@_select
def list_cases(cases: tuple[Path, ...], ids: tuple[str, ...], keywords: tuple[str, ...]) -> None:
    """List test cases: id, level, RFC references and title, grouped by area; long ones marked."""
    from tcpconform.cases.long import long_label

    selected = _load(cases, ids, keywords)
    areas: dict[str, list[TestCase]] = {}
    for case in selected:
        areas.setdefault(case.area or "-", []).append(case)
    for area, group in areas.items():
        click.echo(f"{area}:")
        for case in group:
            refs = ", ".join(sorted({r.ref + (f" {r.rid}" if r.rid else "") for r in case.requirements}))
            click.echo(f"  {case.id:<28} {case.level.value:<7} {case.title}" + (f"  [{long_label(case)}]" if case.long else ""))
            click.echo(f"  {'':<28} {'':<7} {refs}  ({case.loc.file})")
    click.echo(f"{len(selected)} case(s)")


def _target_options(f: F) -> F:
    """The options that choose what a run talks to (see tcpconform.session)."""
    opts = [
        click.option("--fault", "faults", multiple=True, help="Switch on a reference-responder fault (repeatable)."),
        click.option("--lab", type=click.Choice(["linux", "reference"]), default=None,
                     help="Run in the network lab against Linux's TCP or the responder on the wire (root)."),
        click.option("--lab-name", default="0", show_default=True, help="Which lab (tcpconform lab up NAME)."),
        click.option("--target", "target_ip", metavar="IP", default=None,
                     help="A device on a wire: its IPv4 or IPv6 address; the run's family is the address's (root)."),
        click.option("--target-alt", metavar="IP", default=None, help="The --target's second address (the multihomed cases)."),
        click.option("--ipv6", is_flag=True, help="Run over IPv6 (in-process: 2001:db8::/32; the lab: fd00:7c:<n>::/64)."),
        click.option("--port", type=click.IntRange(1, 65535), default=None,
                     help="The target's TCP port (default 8000 for the bundled responder and the lab)."),
        click.option("--iface", default=None, help="Interface towards --target (default: the route's)."),
        click.option("--agent", metavar="SPEC", default=None,
                     help="The --target's agent (docs/agent-protocol.md): cmd:COMMAND, udp:HOST:PORT or "
                          "serial:PATH[@BAUD]; it plays the application and reports TCP state (never over the tested link)."),
        click.option("--source-ip", help="Tester address: a free one has no kernel RSTs to suppress (default: the interface's)"),
        click.option("--listen", metavar="[IP:]PORT",
                     help="Wait at the tester's address and PORT for a device's SYNs; client cases run on them (others: --port)"),
        click.option("--listen-wait", type=click.FloatRange(0.1, 3600), default=30.0, show_default=True,
                     help="Seconds a client case waits for the device's SYN (--listen)."),
        click.option("--service", "services", metavar="NAME[=PORT]", multiple=True,
                     help="What the --target's application does without an agent: echo (RFC 862), discard (RFC 863), chargen "
                          "(RFC 864), daytime (RFC 867); NAME=PORT for several at once (repeatable: each case runs on the "
                          "quietest that gives it what it needs).  Default: echo on --port."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


@main.command()
@_select
@_quick_option
@_target_options
@click.option("--profile", default=None, help="Target profile: reference or generic (default: fits the target).")
@click.option("--report-dir", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
              help="Where results.json, junit.xml, report.html and the pcaps are written.")
@click.option("--fail-on", type=click.Choice(["must", "should", "any"]), default="must", show_default=True,
              help="Which failed requirement levels fail the run (exit 1); the others are reported only.")
@click.option("--baseline", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Known deviations (YAML: deviations: [{case, reason, target}]): reported, not failing.")
@click.option("--jobs", "-j", type=click.IntRange(1, 256), default=None,
              help="Test connections run at once over the one link (default: 16; 4 against --target: few connection slots).")
@click.option("--restart", "restart", metavar="CMD", default=None,
              help="When the target stops answering, run CMD (shell syntax: power-cycle it, restart the service; the bundled "
                   "responder is restarted fresh as well, '' for nothing else), wait until it answers and go on with the rest.")
@click.option("--restart-wait", type=click.FloatRange(1, 3600), default=30.0, show_default=True,
              help="Seconds to wait, after --restart, for the target to answer again.")
@click.option("-v", "--verbose", is_flag=True, help="Show the exchange of passing cases too.")
@click.option("-q", "--quiet", is_flag=True, help="Only the summary and failures.")
@click.option("--color/--no-color", default=None, help="Colour the verdicts (default: when a terminal).")
def run(
    cases: tuple[Path, ...], ids: tuple[str, ...], keywords: tuple[str, ...], faults: tuple[str, ...],
    lab: str | None, lab_name: str, target_ip: str | None, ipv6: bool, port: int | None, iface: str | None,
    source_ip: str | None, agent: str | None, services: tuple[str, ...], profile: str | None, report_dir: Path, fail_on: str,
    baseline: Path | None, jobs: int | None, restart: str | None, restart_wait: float, verbose: bool, quiet: bool,
    color: bool | None, quick: bool, listen: str | None, listen_wait: float, target_alt: str | None) -> None:
    """Run test cases against a target (default: the bundled reference responder, in this process).

    \b
    Examples:
      tcpconform run                          every bundled case, reference responder
      tcpconform run seed-teardown -v         one case, with its exchange
      tcpconform run --fault ignore-fin       see the cases catch a faulty responder
      tcpconform run --lab linux              Linux's own TCP, in the network lab (root)
      tcpconform run --lab linux --ipv6       the same over IPv6
      tcpconform run --target 198.18.0.2 --port 7 --iface eth1   an echo service on a device
      tcpconform run --target 198.18.0.2 --service echo=7 --service discard=9 \
          --service chargen=19 --service daytime=13       four services, each case on one that fits it
      tcpconform run --fault wedge-on-bad-option --restart ''   go on after the target wedges
      tcpconform run --lab linux --quick      without the long cases (minutes of waiting each)
      tcpconform run --target 198.18.0.2 --port 8000 --agent udp:10.0.0.2:4242   a device with its agent
      tcpconform run --target 198.18.0.2 --listen 1883   a device connecting out by itself, to port 1883
    """
    import time

    from tcpconform.report import console
    from tcpconform.run import Opened, RunRequest, TargetChoice
    from tcpconform.run import run as run_cases

    selected = _load(cases, ids, keywords, quick)
    use_color = sys.stdout.isatty() if color is None else color
    wall0 = time.monotonic()
    total, done = len(selected), [0]

    def header(opened: Opened) -> None:
        for warning in opened.warnings:  # what may falsify the verdicts: said even with -q
            click.echo(f"warning: {warning}", err=True)
        if quiet:
            return
        session = opened.session
        clock = " (virtual clock: protocol waits cost no real time)" \
            if session.link.clock == "virtual" else ""
        click.echo(f"tcpconform: {total} case(s) against {session.target.name} at {opened.where}, "
                   f"profile {opened.profile.name}, link {session.link.name}{clock}")
        if opened.rst_suppression is not None:
            click.echo(f"  kernel RSTs: {opened.rst_suppression}")

    def progress(case: CaseResult) -> None:
        done[0] += 1
        if quiet and case.verdict in ("pass", "skip"):
            return
        click.echo(console.case_line(case, use_color, done[0], total, time.monotonic() - wall0))
        if case.verdict in ("fail", "error"):
            for line in console.failure_detail(case):
                click.echo(line)
        elif verbose:
            for line in console.ladder(case):
                click.echo("        " + line)

    choice = TargetChoice(faults, lab, lab_name, target_ip, port, iface, source_ip, services, ipv6, profile, agent,
                          listen, listen_wait, target_alt)
    request = RunRequest(selected, choice, [str(p) for p in cases], jobs, fail_on, baseline, report_dir,
                         on_open=header, on_case_done=progress, warn=lambda text: click.echo(f"warning: {text}", err=True),
                         restart=restart, restart_wait=restart_wait)
    with _user_errors():
        outcome = run_cases(request)
    from tcpconform.report.matrix_grid import matrix_summary

    for line in matrix_summary(outcome.result):
        click.echo(line)
    for line in console.gate_lines(outcome.gate):
        click.echo(line)
    click.echo(console.summary(outcome.result, use_color))
    for kind, path in outcome.written.items():
        click.echo(f"{kind}: {path}")
    sys.exit(outcome.gate.exit_code)


@main.command()
@_select
@_quick_option
@click.option("--fault", "only_faults", multiple=True, help="Only these faults (default: every fault).")
@click.option("--report-dir", type=click.Path(path_type=Path), default=None,
              help="Also write selftest.json here.")
@click.option("--lab", "on_wire", type=click.Choice(["reference"]), default=None,
              help="Run the responder on the wire in the network lab instead of in-process (root).")
@click.option("--lab-name", default="0", show_default=True, help="Which lab.")
@click.option("--ipv6", is_flag=True, help="Over IPv6 (faults that only show over IPv4 are left out, and the reverse).")
def selftest(cases: tuple[Path, ...], ids: tuple[str, ...], keywords: tuple[str, ...],
             only_faults: tuple[str, ...], report_dir: Path | None, on_wire: str | None, lab_name: str,
             ipv6: bool, quick: bool) -> None:
    """Prove the cases can fail: clean responder must pass all, every fault must be caught.

    Runs the cases against the clean reference responder (all must pass), then once per fault;
    prints the case x fault matrix and exits non-zero if a fault goes undetected, a case does not
    fail under a fault it names, or a case names no fault and says not why.
    """
    from tcpconform.cases.long import leave_out_long, left_out_text, quick_faults
    from tcpconform.selftest import format_matrix, run_selftest

    selected, left = leave_out_long(_load(cases, ids, keywords), quick)
    if left:
        click.echo(left_out_text(left) + " (and the faults only they name)", err=True)
    _check_faults(only_faults)
    with _user_errors():
        report = run_selftest(selected, quick_faults(selected, left, only_faults), lab_name if on_wire else None, ipv6=ipv6)
    for line in format_matrix(report):
        click.echo(line)
    if report_dir is not None:
        import json

        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / "selftest.json").write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    sys.exit(EXIT_OK if report.ok else EXIT_FAIL)


@main.command()
@_select
@click.option("--level", "levels", type=click.Choice(["must", "should", "may"]), multiple=True,
              help="Only requirements of this level (repeatable).")
@click.option("--missing", "only_missing", is_flag=True, help="Only requirements no case checks fully.")
@click.option("-v", "--verbose", is_flag=True, help="Also say what is missing of those checked in part.")
def coverage(cases: tuple[Path, ...], ids: tuple[str, ...], keywords: tuple[str, ...], levels: tuple[str, ...],
             only_missing: bool, verbose: bool) -> None:
    """RFC 9293's labelled requirements (MUST-1..69, SHLD-1..31, MAY-1..18, REC-1), each with the
    cases that check it, or what is missing and whether the wire can show it.

    \b
    Examples:
      tcpconform coverage                  every requirement, and the counts per level
      tcpconform coverage --level must --missing
    """
    from tcpconform.cases.requirements import coverage as requirement_coverage
    from tcpconform.report.coverage import coverage_lines

    rows = requirement_coverage(_load(cases, ids, keywords))
    for line in coverage_lines(rows, levels=levels, only_missing=only_missing, verbose=verbose):
        click.echo(line)


@main.command()
@click.argument("a", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("b", type=click.Path(path_type=Path, dir_okay=False))
def compare(a: Path, b: Path) -> None:
    """Compare two runs' results.json: which cases changed verdict from A to B.

    Exits 1 if a case that passed in A fails (or errors) in B — a regression — else 0.
    """
    from tcpconform.gate import compare as do_compare
    from tcpconform.report.console import comparison_lines

    with _user_errors():
        cmp = do_compare(a, b)
    for line in comparison_lines(cmp):
        click.echo(line)
    sys.exit(EXIT_OK if cmp.ok else EXIT_FAIL)


@main.command()
@click.option("--iface", required=True,
              help="Interface to serve on (the responder answers ARP and Neighbor Solicitations itself).")
@click.option("--ip", "ip", required=True, help="The responder's IPv4 or IPv6 address (not one the kernel owns).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--fault", "faults", multiple=True, help="Switch on a fault (repeatable).")
@click.option("--netns", default=None, help="Open the interface inside this network namespace.")
@click.option("--agent-stdio", is_flag=True,
              help="Let the engine play the application over stdin/stdout (docs/agent-protocol.md).")
@click.option("--isn", type=click.IntRange(0, 2**32 - 1), default=None,
              help="Give every connection this ISN (100: the seed diagram's numbers) instead of RFC 6528's.")
@click.option("--alt-ip", default=None, help="A second address of --ip's family to serve too (a multihomed host).")
def responder(iface: str, ip: str, port: int, faults: tuple[str, ...], netns: str | None, agent_stdio: bool,
              isn: int | None, alt_ip: str | None) -> None:
    """Serve the reference responder on an interface, for other tools and real clients (root).

    Without --agent-stdio its application is the seed's: it reads 1024 bytes, answers 700 and
    closes after the client's FIN. It prints its state transitions; Ctrl-C stops it.
    """
    from tcpconform.targets.agent.responder import serve

    _check_faults(faults)
    with _user_errors():
        code = serve(iface, ip, port, frozenset(faults), netns=netns, agent_stdio=agent_stdio, isn=isn, alt_ip=alt_ip)
    sys.exit(code)


@main.group()
def lab() -> None:
    """The network lab: a tester and a target namespace joined by a veth pair (root)."""


@lab.command("up")
@click.argument("name", default="0")
def lab_up_cmd(name: str) -> None:
    """Create the lab (idempotent), start its Linux agent and resident tester, print its addresses (a killed run's: kept)."""
    from tcpconform.lab import resident
    from tcpconform.lab.lab import keep_lab, lab_up
    from tcpconform.targets.agent.client import agent_env
    from tcpconform.targets.agent.standing import stand_up

    with _user_errors():
        made, left = lab_up(name), keep_lab(name)
        click.echo(f"{stand_up(made)}\n{resident.start(made, agent_env())}")
    if left is not None:
        click.echo(f"{left}: it is yours from now on, kept when runs end")
    click.echo(f"lab {made.name}: tester {made.tester_ip} / {made.tester_ip6} ({made.tester_if} in {made.tester_ns}), "
               f"Linux target {made.linux_ip} / {made.linux_ip6} (and .4 / ::4) and reference responder {made.reference_ip} / "
               f"{made.reference_ip6} (and .5 / ::5) ({made.target_if} in {made.target_ns})")


@lab.command("down")
@click.argument("name", default="0")
def lab_down_cmd(name: str) -> None:
    """Remove the lab (its Linux agent with it)."""
    from tcpconform.lab.lab import lab_down
    click.echo(f"lab {name}: {'removed' if lab_down(name) else 'not there'}")


@lab.command("status")
def lab_status_cmd() -> None:
    """Show every lab present."""
    from tcpconform.lab.lab import status_report
    click.echo("\n".join(status_report()))


@main.command()
@click.option("--lab", "labs", multiple=True, metavar="NAME",
              help="Only what is left of lab NAME (repeatable); without it, everything named tcpc, labs in use too.")
def cleanup(labs: tuple[str, ...]) -> None:
    """Remove whatever a killed run left behind: tcpc namespaces, links, firewall tables, processes."""
    from tcpconform.lab.leftovers import cleanup as do_cleanup
    from tcpconform.lab.leftovers import removed_lines
    from tcpconform.lab.spec import lab_spec

    with _user_errors():
        prefixes = [lab_spec(name).prefix for name in labs] or None
    click.echo("\n".join(removed_lines(do_cleanup(prefixes=prefixes))))


@main.command()
@click.option("--repeat", type=click.IntRange(1, 1000), default=20, show_default=True,
              help="How many times each short measurement is repeated.")
@click.option("--wire", is_flag=True, help="Also measure on real links, in a lab made for the benchmark (root).")
@click.option("--jobs", "jobs_text", default="8,16,32", show_default=True,
              help="The --jobs values the catalogue is timed with, besides serial (--equality: the first).")
@click.option("--lab-name", default=None,
              help="Name of the lab the benchmark makes and removes (default: a free one from 100 up).")
@click.option("--equality", type=click.IntRange(1, 1000), default=None, metavar="N",
              help="Only check verdicts: N serial and N --jobs runs of the catalogue, differences printed.")
@click.option("--lab", "lab_target", type=click.Choice(["linux", "reference"]), default=None,
              help="With --equality: run against this lab target (root) instead of in-process.")
@click.option("--fuzz", type=click.IntRange(1, 10**9), default=None, metavar="N",
              help="Only the robustness campaigns: N random segments into the responder, N frames into the "
                   "decoder, N/1000 mutated case files into the loader; throughput, memory, what broke.")
@click.option("--fuzz-only", "fuzz_only", type=click.Choice(["responder", "decoder", "cases"]), multiple=True,
              help="With --fuzz: only these campaigns (repeatable).")
@click.option("--seed", type=int, default=1, show_default=True, help="With --fuzz: the campaigns' random seed.")
@click.option("--packetdrill", metavar="PATH", help="Only the seed exchange, whole processes, against this packetdrill "
              "(root); with --cases: the scripts' verdicts by both.")
@_select
def bench(repeat: int, wire: bool, jobs_text: str, lab_name: str | None, equality: int | None, lab_target: str | None,
          fuzz: int | None, fuzz_only: tuple[str, ...], seed: int, packetdrill: str | None, cases: tuple[Path, ...],
          ids: tuple[str, ...], keywords: tuple[str, ...]) -> None:
    """Print performance figures, never asserting: start-up, per segment, catalogue wall time, memory.

    \b
    Examples:
      tcpconform bench                         in-process figures (no privileges)
      tcpconform bench --wire --lab-name 30    also on a lab's veth: raw socket floor, lab Linux
      tcpconform bench --equality 20 --lab linux --jobs 8
      tcpconform bench --fuzz 10000000 --fuzz-only responder   the long-haul campaign
    """
    from tcpconform.bench import BenchRequest, bench_lines

    selected = _load(cases, ids, keywords) if fuzz is None and (packetdrill is None or cases) else []
    with _user_errors():
        for line in bench_lines(BenchRequest(repeat, wire, jobs_text, lab_name, equality, lab_target, fuzz, fuzz_only, seed,
                                             packetdrill), selected):
            click.echo(line)


for _command in (learn_command, mutate_command):
    main.add_command(_command)


def entry() -> None:
    """The installed ``tcpconform`` command: :func:`main` with exit codes that mean one thing each
    (the module docstring).  Click alone would exit 1 on Ctrl-C and on a bug of ours, the code of
    a failed gate, so CI would read either as a failing device."""
    interrupts.install()
    try:
        try:
            main(standalone_mode=False, prog_name="tcpconform")
        finally:
            interrupts.ignore_from_now()
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("\ninterrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except Exception:  # a bug of ours: its traceback helps the report, the exit code says whose it is
        import traceback

        traceback.print_exc()
        click.echo("internal error of tcpconform (exit 3): please report it, with the lines above", err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(EXIT_OK)


if __name__ == "__main__":  # pragma: no cover
    entry()
