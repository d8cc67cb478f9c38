"""Nothing is left behind: a run stopped by SIGINT or SIGTERM removes all it made; what a
``kill -9`` leaves, leftovers() finds and cleanup() removes."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.lab import LAB9, needs_nft, needs_root

from tcpconform.lab.guard import on_exit, pending_exit_actions, run_exit_actions
from tcpconform.lab.inspect import lab_status
from tcpconform.lab.lab import lab_down
from tcpconform.lab.leftovers import cleanup, leftovers

REPO = Path(__file__).resolve().parents[2]

# A run in miniature: a lab, a process inside it, RST suppression in the lab and in the host
# namespace.  It waits with its main thread inside the tester namespace, where the signal handler
# then runs: the host table must still be removed from the host namespace.
CHILD = """
import subprocess, time
from tcpconform.lab.firewall import RstSuppression
from tcpconform.lab.lab import temporary_lab
from tcpconform.lab.netns import in_netns, ns_argv
with temporary_lab(LAB) as lab:
    subprocess.Popen(ns_argv(lab.target_ns, ["sleep", "60"]))
    with RstSuppression(lab.linux_ip, 7, range(40000, 40010), ns=lab.tester_ns), \\
            RstSuppression(lab.linux_ip, 7, range(40000, 40010)), in_netns(lab.tester_ns):
        print("ready", flush=True)
        time.sleep(60)
"""


@pytest.fixture
def run(request: pytest.FixtureRequest) -> Iterator[subprocess.Popen[str]]:
    """The child, once everything is in place; ``indirect`` parametrisation prepends code to it."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = f"LAB = {LAB9!r}\n" + getattr(request, "param", "") + CHILD
    child = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 20)
        assert ready and child.stdout.readline().strip() == "ready", "the child did not get ready"
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(10)
        cleanup(prefixes=_prefixes(child.pid))


def _prefixes(pid: int) -> list[str]:
    return [f"tcpc{LAB9}-", f"tcpc_{pid}_"]


def _everything_there(left: dict[str, list[str]], pid: int) -> None:
    assert left["namespaces"] == [f"tcpc{LAB9}-target", f"tcpc{LAB9}-tester"]
    assert f"inet tcpc_{pid}_2" in left["nft_tables"]  # in the host namespace
    assert f"tcpc{LAB9}-tester: inet tcpc_{pid}_1" in left["nft_tables"]
    assert any("sleep 60" in p and f"[tcpc{LAB9}-target]" in p for p in left["processes"])


@needs_root
@needs_nft
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signalled_run_leaves_nothing(run: subprocess.Popen[str], sig: signal.Signals) -> None:
    _everything_there(leftovers(prefixes=_prefixes(run.pid)), run.pid)
    run.send_signal(sig)
    # It ends as the signal would have ended it (Python re-raises an unhandled Ctrl-C as SIGINT).
    assert run.wait(10) == -sig
    assert leftovers(prefixes=_prefixes(run.pid)) == {"namespaces": [], "links": [], "nft_tables": [], "processes": []}


@needs_root
@needs_nft
@pytest.mark.parametrize("run", ["import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"], indirect=True)
def test_an_ignored_sigint_stays_ignored(run: subprocess.Popen[str]) -> None:
    """Under nohup, or as a background job of a script, Ctrl-C does not end the run: its lab must stay."""
    run.send_signal(signal.SIGINT)
    with pytest.raises(subprocess.TimeoutExpired):
        run.wait(0.3)
    _everything_there(leftovers(prefixes=_prefixes(run.pid)), run.pid)
    run.terminate()
    assert run.wait(10) == -signal.SIGTERM
    assert not any(leftovers(prefixes=_prefixes(run.pid)).values())


@needs_root
@needs_nft
def test_kill_9_leaves_leftovers_that_cleanup_removes(run: subprocess.Popen[str]) -> None:
    run.kill()
    run.wait(10)
    left = leftovers(prefixes=_prefixes(run.pid))
    _everything_there(left, run.pid)
    removed = cleanup(prefixes=_prefixes(run.pid))
    assert removed["namespaces"] == left["namespaces"]
    assert sorted(removed["nft_tables"]) == sorted(left["nft_tables"])
    assert [p.split()[0] for p in removed["processes"]] == [p.split()[0] for p in left["processes"]]
    empty = {"namespaces": [], "links": [], "nft_tables": [], "processes": []}
    assert leftovers(prefixes=_prefixes(run.pid)) == empty
    assert cleanup(prefixes=_prefixes(run.pid)) == empty  # safe to run twice


def test_cleanup_touches_only_tcpc_names() -> None:
    for bad in (["eth"], [""], ["tc"], []):
        with pytest.raises(ValueError, match="tcpc"):
            leftovers(prefixes=bad)
        with pytest.raises(ValueError, match="tcpc"):
            cleanup(prefixes=bad)


@needs_root
def test_a_forked_child_does_not_run_its_parents_exit_actions(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    cancel = on_exit(lambda: marker.write_text("ran"), "test marker")
    try:
        pid = os.fork()
        if pid == 0:  # the child: exiting must not remove what the parent still uses
            try:
                run_exit_actions()
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        assert not marker.exists() and "test marker" in pending_exit_actions()
    finally:
        cancel()
    assert "test marker" not in pending_exit_actions()


@needs_root
def test_two_processes_bringing_up_the_same_lab_agree() -> None:
    code = f"from tcpconform.lab.lab import lab_up; print(lab_up({LAB9!r}).linux_ip)"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    children = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(2)]
    try:
        results = [child.communicate(timeout=30) for child in children]
        assert [(child.returncode, out.strip()) for child, (out, _) in zip(children, results, strict=True)] == [
            (0, f"198.18.{LAB9}.2"), (0, f"198.18.{LAB9}.2")], results
        assert [s["complete"] for s in lab_status() if s["name"] == LAB9] == [True]
    finally:
        lab_down(LAB9)
