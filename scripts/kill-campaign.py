#!/usr/bin/env python3
"""Kill lab runs at random points and check what they leave: every finished verdict in a valid
results.json, the exit code the README documents, nothing ``tcpc*`` left (after ``cleanup`` for
SIGKILL of the run itself); then two runs started together on one lab.  Root, a machine with
network namespaces.  Prints one line per run and a summary; exits 1 if any check failed.

    sudo python3 scripts/kill-campaign.py --runs 20 --seed 1
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LAB = "43"  # a lab each run makes for itself (a temporary lab)
KEPT = "44"  # a lab brought up before the runs, which every run must leave in place
CLI = [sys.executable, "-m", "tcpconform.cli"]
VICTIMS = ("run-sigint", "run-sigterm", "run-sigkill", "agent-sigkill")
EXPECTED_EXIT = {"run-sigint": {130}, "run-sigterm": {-15}, "run-sigkill": {-9}, "agent-sigkill": {1, 2},
                 "agent-sigkill-late": {0, 1}}
"""A killed agent errors the cases that needed it: the gate fails (1) or cannot pass (2), as documented."""
EXPECTED_STATE = {"run-sigint": {"interrupted"}, "run-sigterm": {"running"}, "run-sigkill": {"running"},
                  "agent-sigkill": {"complete"}, "agent-sigkill-late": {"complete"}}


def leftovers(kept: str | None = None) -> str:
    out: list[str] = []
    for argv in (["ip", "netns", "list"], ["ip", "-o", "link"], ["nft", "list", "tables"]):
        text = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
        out += [line for line in text.splitlines() if "tcpc" in line and (kept is None or f"tcpc{kept}-" not in line)]
    procs = subprocess.run(["pgrep", "-af", r"-m tcpconform\.(cli|targets)"], capture_output=True, text=True,
                           check=False).stdout
    out += procs.splitlines()
    return "; ".join(out)


def one_run(i: int, victim: str, target: str, lab: str, delay: float, folder: Path) -> list[str]:
    reports = folder / f"run-{i}"
    kept = lab if lab == KEPT else None
    proc = subprocess.Popen([*CLI, "run", "--lab", target, "--lab-name", lab, "-q", "--report-dir", str(reports)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    finished_before = proc.poll() is not None
    if not finished_before:
        if victim.startswith("run-"):
            proc.send_signal({"run-sigint": signal.SIGINT, "run-sigterm": signal.SIGTERM,
                              "run-sigkill": signal.SIGKILL}[victim])
        else:
            pids = subprocess.run(["ip", "netns", "pids", f"tcpc{lab}-target"], capture_output=True, text=True,
                                  check=False).stdout.split()
            for pid in pids:
                subprocess.run(["kill", "-9", pid], check=False)
            if not pids:  # the agent was not up yet (or no longer): nothing was killed
                victim = "none"
    _, err = proc.communicate(timeout=120)
    problems = []
    results = reports / "results.json"
    state, cases = "none", 0
    if results.exists():
        try:
            data = json.loads(results.read_text())
            state, cases = data["run"]["state"], len(data["cases"])
            if sum(data["summary"]["counts"].values()) != cases:
                problems.append("summary counts disagree with the cases")
            if victim == "agent-sigkill" and not data["run"].get("target_control_error"):
                victim = "agent-sigkill-late"  # every case that needed it had finished
        except (ValueError, KeyError) as err_:
            problems.append(f"results.json not valid: {err_}")
    elif delay > 1.0:
        problems.append("no results.json")
    if not finished_before and victim != "none":
        if proc.returncode not in EXPECTED_EXIT[victim]:
            problems.append(f"exit {proc.returncode}, documented {sorted(EXPECTED_EXIT[victim])}")
        if results.exists() and state not in EXPECTED_STATE[victim]:
            problems.append(f"state {state}, expected {sorted(EXPECTED_STATE[victim])}")
    if "Traceback" in err:
        problems.append("a traceback: " + err.strip().splitlines()[-1])
    if victim == "run-sigkill" and kept is None and results.exists():
        # SIGKILL cannot be guarded against: the lab the run made stays, named as a killed run's
        status = subprocess.run([*CLI, "lab", "status"], capture_output=True, text=True, check=False).stdout
        if f"lab {lab} was left behind by a run that was killed (pid {proc.pid})" not in status:
            problems.append("lab status does not name the lab the killed run left")
        subprocess.run([*CLI, "lab", "down", lab], capture_output=True, check=False)
    time.sleep(0.2)  # the agent's process ends on end of input, just after the run
    left = leftovers(KEPT)
    if left:
        problems.append(f"left behind: {left}")
        subprocess.run([*CLI, "lab", "down", LAB], capture_output=True, check=False)
    if kept is not None and subprocess.run(["ip", "netns", "pids", f"tcpc{kept}-tester"], capture_output=True,
                                           check=False).returncode != 0:
        problems.append(f"the lab {kept} that was there before the run is gone")
    late = "(had finished) " if finished_before else ""
    print(f"run {i:2}: {target:9} lab {lab} {victim:18} {late}at {delay:4.2f} s -> exit {proc.returncode}, state {state}, "
          f"{cases} case(s) written{'' if not problems else '  PROBLEMS: ' + '; '.join(problems)}", flush=True)
    return problems


def verdicts(path: Path) -> dict[str, str]:
    data = json.loads((path / "results.json").read_text())
    return {c["id"]: c["verdict"] for c in data["cases"]}


def two_at_once(folder: Path) -> list[str]:
    """Two runs started together on one lab: identical verdicts to a run alone, or a clean refusal."""
    subprocess.run([*CLI, "lab", "up", LAB], capture_output=True, check=True)
    problems = []
    try:
        alone = folder / "alone"
        subprocess.run([*CLI, "run", "--lab", "linux", "--lab-name", LAB, "-q", "--report-dir", str(alone)],
                       capture_output=True, check=False)
        pair = [subprocess.Popen([*CLI, "run", "--lab", "linux", "--lab-name", LAB, "-q", "--report-dir",
                                  str(folder / f"pair-{k}")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for k in (0, 1)]
        outs = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in pair]
        for k, (code, err) in enumerate(outs):
            if code == 2 and "in use by another run" in err:
                print(f"two at once: run {k} refused: {err.strip().splitlines()[-1]}")
            elif verdicts(folder / f"pair-{k}") == verdicts(alone):
                print(f"two at once: run {k} ran, exit {code}, verdicts identical to the run alone")
            else:
                a, b = verdicts(alone), verdicts(folder / f"pair-{k}")
                problems.append(f"run {k}: {sum(a[x] != b.get(x) for x in a)} verdict(s) differ from the run alone")
    finally:
        subprocess.run([*CLI, "lab", "down", LAB], capture_output=True, check=False)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    if leftovers():
        print(f"something tcpc* is there already: {leftovers()}")
        return 2
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tcpc-kills-") as tmp:
        folder = Path(tmp)
        subprocess.run([*CLI, "lab", "up", KEPT], capture_output=True, check=True)
        try:
            for i in range(args.runs):
                victim = VICTIMS[i % len(VICTIMS)]
                target = ("linux", "reference")[(i // len(VICTIMS)) % 2]
                lab = (LAB, KEPT)[(i // (2 * len(VICTIMS))) % 2]
                problems += one_run(i, victim, target, lab, rng.uniform(0.3, 4.0), folder)
        finally:
            subprocess.run([*CLI, "lab", "down", KEPT], capture_output=True, check=False)
        problems += two_at_once(folder)
    print(f"{args.runs} killed runs and one pair: {len(problems)} problem(s)")
    for p in problems:
        print(f"  {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
