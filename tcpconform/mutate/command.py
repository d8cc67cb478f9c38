"""``tcpconform mutate``: systematic single- and two-field mutation of the segments the catalogue's
cases send, each in the state its case reaches, with the target's survival checked after each.

Exit codes as ``run``'s gate: 0 nothing crashed (differences are reported, and fail nothing), 1 a
crash or wedge (a case file reproducing each, and the usual reports of those cases), 2 a usage or
set-up error, never a traceback.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click

from tcpconform.errors import SetupError, UsageError

__all__ = ["mutate_command", "parse_budget"]

UNITS = {"s": 1, "m": 60, "h": 3600}


class _Failure(click.ClickException):
    exit_code = 2


def parse_budget(text: str) -> float:
    """``90``, ``90s``, ``10m``, ``1.5h`` in seconds; a :class:`UsageError` for anything else."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if found is None or float(found.group(1)) <= 0:
        raise UsageError(f"--budget {text!r}: a duration such as 90s, 10m or 1h")
    return float(found.group(1)) * UNITS[found.group(2) or "s"]


@click.command("mutate")
@click.argument("ids", nargs=-1)
@click.option("--cases", "case_paths", multiple=True, type=click.Path(path_type=Path),
              help="Seed case files or folders (repeatable; default: the bundled catalogue).")
@click.option("-k", "keywords", multiple=True, help="Only seed cases whose id, title or area contains this.")
@click.option("--fault", "faults", multiple=True, metavar="NAME", help="A fault of the reference responder (repeatable).")
@click.option("--lab", "lab_target", type=click.Choice(["linux", "reference"]), default=None,
              help="Mutate against this lab target on the wire (root).")
@click.option("--lab-name", default="0", show_default=True, help="Which lab.")
@click.option("--target", "target_ip", default=None, metavar="IP", help="A device on a wire (root).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="The target's TCP port.")
@click.option("--iface", default=None, help="With --target: the interface towards it.")
@click.option("--source-ip", default=None, help="With --target: the tester's address on that link.")
@click.option("--agent", metavar="SPEC", default=None, help="With --target: its agent (as for run).")
@click.option("--restart", metavar="CMD", default=None,
              help="Brings the target back after a crash (shell syntax); without it a dead device ends the campaign.")
@click.option("--budget", "budget_text", default="10m", show_default=True, help="Wall time the campaign may take.")
@click.option("--max", "most", type=click.IntRange(1), default=None, help="The most mutants tried.")
@click.option("--pairs", type=click.IntRange(0, 1000), default=8, show_default=True,
              help="Two-field mutants per send, drawn after every one-field one.")
@click.option("--seed", type=int, default=1, show_default=True, help="Which pairs are drawn (the rest is fixed).")
@click.option("--resume", is_flag=True, help="Go on with the campaign saved in --out (same target and seed).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("reports/mutate"),
              show_default=True, help="Where mutate.json, the state, the case files and their reports go.")
def mutate_command(ids: tuple[str, ...], case_paths: tuple[Path, ...], keywords: tuple[str, ...],
                   faults: tuple[str, ...], lab_target: str | None, lab_name: str, target_ip: str | None,
                   port: int | None, iface: str | None, source_ip: str | None, agent: str | None,
                   restart: str | None, budget_text: str, most: int | None, pairs: int, seed: int, resume: bool,
                   out_dir: Path) -> None:
    """Mutate the segments the cases send, one field and then two, and see whether the target survives.

    \b
    Examples:
      tcpconform mutate --fault urgent-pointer-crash       the reference with a crash, found and reduced
      sudo tcpconform mutate --lab linux --budget 10m      lab Linux on the wire
      sudo tcpconform mutate --target 10.0.2.2 --port 7 --iface tap0 --restart 'power-cycle dut'
    """
    try:
        code = _mutate(ids, case_paths, keywords, faults, lab_target, lab_name, target_ip, port, iface, source_ip,
                       agent, restart, parse_budget(budget_text), most, pairs, seed, resume, out_dir)
    except (SetupError, UsageError, PermissionError) as err:
        raise _Failure(str(err)) from None
    sys.exit(code)


def _mutate(ids: tuple[str, ...], case_paths: tuple[Path, ...], keywords: tuple[str, ...], faults: tuple[str, ...],
            lab_target: str | None, lab_name: str, target_ip: str | None, port: int | None, iface: str | None,
            source_ip: str | None, agent: str | None, restart: str | None, budget: float, most: int | None,
            pairs: int, seed: int, resume: bool, out_dir: Path) -> int:
    from tcpconform.cases.bundled import bundled_cases
    from tcpconform.cases.load import load_cases
    from tcpconform.mutate.campaign import Campaign, Limits, summary
    from tcpconform.run import RunRequest, TargetChoice, open_target, run

    if lab_target is not None and target_ip is not None:
        raise UsageError("--lab or --target, not both")
    paths = [str(p) for p in case_paths] or [str(bundled_cases())]
    wanted = (lambda i: i in ids) if ids else None
    seeds = [c for c in load_cases(paths, wanted) if (not ids or c.id in ids)
             and (not keywords or any(k in f"{c.id} {c.title} {c.area}" for k in keywords))]
    if ids and not seeds:
        raise UsageError(f"no seed case named {', '.join(ids)}")
    choice = TargetChoice(faults=faults, lab=lab_target, lab_name=lab_name, target=target_ip, port=port,
                          iface=iface, source_ip=source_ip, agent=agent)
    limits = Limits(budget=budget, most=most, seed=seed, pairs=pairs)

    def say(line: str) -> None:
        click.echo(line, err=True)

    with open_target(choice) as opened, open_target(TargetChoice()) as reference:
        name = opened.session.target.name + (f" with {', '.join(faults)}" if faults else "")
        fault = faults[0] if len(faults) == 1 and lab_target in (None, "reference") and target_ip is None else None
        campaign = Campaign(opened, reference, name=name, out=out_dir, fault=fault, restart=restart, say=say)
        if resume:
            campaign.resume(limits)
        progress = campaign.run(seeds, limits)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "mutate.json").write_text(json.dumps({"target": name, "seed": seed, **summary(progress)}, indent=1))
    for crash in progress.crashes:
        click.echo(f"CRASH {crash.mutant}\n  segment: {crash.segment}\n  {crash.rule}\n  target: {crash.target}\n"
                   f"  shortest exchange: the seed's steps {crash.reduced_steps or '(none)'} then the segment\n"
                   f"  case file: {crash.case_file or '(none)'}"
                   f"{'' if crash.reproduces else ' (does not reproduce on its own)'}"
                   + (f"\n  the same mutation crashed it {len(crash.again)} time(s) more (other states, pairs)"
                      if crash.again else ""))
    for diff in progress.differences:
        click.echo(f"DIFFERS {diff.mutant}\n  segment: {diff.segment}\n  reference: {diff.reference}\n"
                   f"  target: {diff.target}\n  {diff.rule}")
    click.echo(f"mutate: {len(progress.tried)} mutant(s) tried, {progress.unreached} unreached, "
               f"{len(progress.crashes)} crash(es), {len(progress.differences)} difference(s); {out_dir / 'mutate.json'}")
    files = [c.case_file for c in progress.crashes if c.case_file]
    if files:
        outcome = run(RunRequest(cases=load_cases(files), choice=choice, case_paths=files, report_dir=out_dir, jobs=1,
                                 restart=restart if restart is not None else ""))
        click.echo(f"reports of the case files: {', '.join(str(p) for p in outcome.written.values())}")
    return 1 if progress.crashes else 0
