"""The ``tcpconform`` command line.

Imports are deferred into the commands: ``--help`` and ``list`` must not pay for Scapy or the
engine.  Exit codes: 0 every case passed (or was skipped), 1 a case failed, 2 a usage or set-up
error (bad case file, unknown fault, errors while running cases).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from .model import TestCase
    from .results import RunResult

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageFailure(click.ClickException):
    exit_code = EXIT_USAGE


def _load(cases: tuple[Path, ...], ids: tuple[str, ...], keywords: tuple[str, ...]) -> list[TestCase]:
    from fnmatch import fnmatchcase

    from .loader import CaseFileError, load_cases
    from .paths import bundled_cases

    paths = list(cases) or [bundled_cases()]
    for p in paths:
        if not Path(p).exists():
            raise UsageFailure(f"{p}: no such file or folder")
    try:
        loaded = load_cases(paths)
    except CaseFileError as err:
        raise UsageFailure(f"invalid test case file(s):\n{err}") from None
    selected = [
        c for c in loaded
        if (not ids or any(fnmatchcase(c.id, pat) for pat in ids))
        and (not keywords or any(k.lower() in f"{c.id} {c.title} {c.area}".lower() for k in keywords))
    ]
    if not selected:
        raise UsageFailure("no test case matches the selection" + (f" {' '.join(ids)}" if ids else ""))
    return selected


def _check_faults(faults: tuple[str, ...]) -> None:
    from .responder.faults import FAULTS

    for name in faults:
        if name not in FAULTS:
            known = "\n  ".join(f"{k}: {v}" for k, v in FAULTS.items())
            raise UsageFailure(f"unknown fault {name!r}; the reference responder knows:\n  {known}")


_cases_option = click.option(
    "--cases", "cases", multiple=True, type=click.Path(path_type=Path),
    help="Case file or folder (repeatable). Default: the bundled testcases/.",
)
_select_options = [
    click.argument("ids", nargs=-1),
    click.option("-k", "keywords", multiple=True, help="Only cases whose id, title or area contains this (repeatable: any)."),
]


def _select(f):  # type: ignore[no-untyped-def]
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
    """List test cases: id, level, RFC references and title, grouped by area."""
    selected = _load(cases, ids, keywords)
    areas: dict[str, list[TestCase]] = {}
    for case in selected:
        areas.setdefault(case.area or "-", []).append(case)
    for area, group in areas.items():
        click.echo(f"{area}:")
        for case in group:
            refs = ", ".join(sorted({r.ref + (f" {r.rid}" if r.rid else "") for r in case.requirements}))
            click.echo(f"  {case.id:<28} {case.level.value:<7} {case.title}")
            click.echo(f"  {'':<28} {'':<7} {refs}  ({case.loc.file})")
    click.echo(f"{len(selected)} case(s)")


@main.command()
@_select
@click.option("--fault", "faults", multiple=True, help="Switch on a reference-responder fault (repeatable).")
@click.option("--profile", default=None, help="Target profile (default: reference for the bundled responder).")
@click.option("--report-dir", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
              help="Where results.json is written.")
@click.option("--jobs", "-j", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Test connections run at once over the one link.")
@click.option("-v", "--verbose", is_flag=True, help="Show the exchange of passing cases too.")
@click.option("-q", "--quiet", is_flag=True, help="Only the summary and failures.")
@click.option("--color/--no-color", default=None, help="Colour the verdicts (default: when a terminal).")
def run(
    cases: tuple[Path, ...], ids: tuple[str, ...], keywords: tuple[str, ...], faults: tuple[str, ...],
    profile: str | None, report_dir: Path, jobs: int, verbose: bool, quiet: bool, color: bool | None,
) -> None:
    """Run test cases against a target (default: the bundled reference responder).

    \b
    Examples:
      tcpconform run                          every bundled case, reference responder
      tcpconform run seed-teardown -v         one case, with its exchange
      tcpconform run --fault ignore-fin       see the cases catch a faulty responder
    """
    from . import console
    from .profiles import get_profile
    from .run import execute, open_reference

    selected = _load(cases, ids, keywords)
    _check_faults(faults)
    try:
        prof = get_profile(profile or "reference")
    except KeyError as err:
        raise UsageFailure(str(err.args[0])) from None
    use_color = sys.stdout.isatty() if color is None else color
    ref = open_reference(faults)
    target_desc = ref.target.name + (f" with fault(s) {', '.join(faults)}" if faults else "")
    if not quiet:
        click.echo(f"tcpconform: {len(selected)} case(s) against {target_desc} "
                   f"at {ref.target.ip}:{ref.target.port}, profile {prof.name}, link {ref.link.name}")
    total = len(selected)
    done = [0]

    def progress(case):  # type: ignore[no-untyped-def]
        done[0] += 1
        if quiet and case.verdict == "pass":
            return
        click.echo(console.case_line(case, use_color, done[0], total))
        if case.verdict in ("fail", "error"):
            for line in console.failure_detail(case):
                click.echo(line)
        elif verbose:
            for line in console.ladder(case):
                click.echo("        " + line)

    result = execute(selected, ref.link, ref.target, prof, jobs=jobs, on_case_done=progress,
                     meta={"faults": sorted(faults), "case_paths": [str(p) for p in cases] or ["(bundled)"]})
    path = _write(result, report_dir)
    click.echo(console.summary(result, use_color))
    click.echo(f"results: {path}")
    sys.exit(_exit_code(result))


def _write(result: RunResult, report_dir: Path) -> Path:
    try:
        return result.write_json(report_dir)
    except OSError as err:
        raise UsageFailure(f"cannot write results to {report_dir}: {err.strerror}") from None


def _exit_code(result: RunResult) -> int:
    counts = result.counts()
    if counts["fail"]:
        return EXIT_FAIL
    if counts["error"]:
        return EXIT_USAGE
    return EXIT_OK


@main.command()
@_select
@click.option("--fault", "only_faults", multiple=True, help="Only these faults (default: every fault).")
@click.option("--report-dir", type=click.Path(path_type=Path), default=None,
              help="Also write selftest.json here.")
def selftest(cases: tuple[Path, ...], ids: tuple[str, ...], keywords: tuple[str, ...],
             only_faults: tuple[str, ...], report_dir: Path | None) -> None:
    """Prove the cases can fail: clean responder must pass all, every fault must be caught.

    Runs the cases against the clean reference responder (all must pass), then once per fault;
    prints the case x fault matrix and exits non-zero if a fault goes undetected, a case does not
    fail under a fault it names, or a case names no fault and says not why.
    """
    from .selftest import format_matrix, run_selftest

    selected = _load(cases, ids, keywords)
    _check_faults(only_faults)
    report = run_selftest(selected, only_faults or None)
    for line in format_matrix(report):
        click.echo(line)
    if report_dir is not None:
        import json

        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / "selftest.json").write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    sys.exit(EXIT_OK if report.ok else EXIT_FAIL)


@main.command()
@click.option("--repeat", type=click.IntRange(1, 1000), default=20, show_default=True,
              help="How many times each measurement is repeated.")
def bench(repeat: int) -> None:
    """Print performance figures: seed suite wall time, --help time, per-segment engine overhead."""
    from .bench import run_bench

    for line in run_bench(repeat):
        click.echo(line)


if __name__ == "__main__":  # pragma: no cover
    main()
