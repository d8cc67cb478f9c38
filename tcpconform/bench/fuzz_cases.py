"""``tcpconform bench --fuzz N``, the case-file part: N mutated case files through the loader, and
what it made of them.

The promise checked is the loader's: whatever a case file holds, loading it ends in its cases or in
a :class:`~tcpconform.cases.document.CaseFileError` naming the file and, for a file with lines, the
line; never another exception, never a hang, never more than a couple of seconds or a couple of
hundred megabytes.  The campaign makes each mutant (:func:`~tcpconform.bench.mutations.mutant`)
and writes it to a file; a child process forked for the campaign loads it, with the case cache off,
and answers what happened, one file at a time, so that:

- the peak memory is the loading's alone: the child's own high-water mark (``ru_maxrss`` from
  ``wait4``), with none of what making megabyte mutants costs; an address-space limit makes a
  runaway allocation a ``MemoryError`` (a traceback, counted) rather than the machine's
  out-of-memory killer;
- a hang is counted, not waited on: an alarm interrupts a file after :data:`HANG_LIMIT` seconds,
  and if the child stops answering altogether (stuck in C code) it is killed and a new one goes on
  with the next file; a child that dies is counted as a crash of the file it was loading.

Every file is named by the campaign's seed and its index, which make it again.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcpconform.bench.case_audit import impossible
from tcpconform.bench.mutations import mutant
from tcpconform.cases import cache as casecache
from tcpconform.cases.document import CaseFileError
from tcpconform.cases.load import load_cases

__all__ = ["HANG_LIMIT", "MEMORY_BUDGET_MB", "SLOW", "Tally", "campaign", "case_file_figures"]

HANG_LIMIT = 10.0
"""Seconds one file may take before it counts as a hang."""
SLOW = 2.0
"""A file that takes longer than this to load is reported as slow."""
MEMORY_BUDGET_MB = 200
"""The loading process's peak resident memory must stay under this."""
HEADROOM = 1536 << 20
"""Address space the child may add to what it has when it starts (bytes)."""
SHOWN = 5
"""How many tracebacks, hangs and line-less rejections are described."""


@dataclass
class Tally:
    """What a campaign found; ``described`` keeps the first :data:`SHOWN` of each kind of failure."""

    n: int
    seed: int
    accepted: int = 0
    impossible: int = 0
    rejected: int = 0
    lineless: int = 0
    tracebacks: int = 0
    hangs: int = 0
    crashes: int = 0
    slow: int = 0
    slowest: float = 0.0
    slowest_file: str = ""
    peak_mb: float = 0.0
    start_mb: float = 0.0
    seconds: float = 0.0
    described: dict[str, list[str]] = field(default_factory=dict)

    @property
    def tried(self) -> int:
        return self.accepted + self.impossible + self.rejected + self.tracebacks + self.hangs + self.crashes

    @property
    def kept(self) -> bool:
        """The loader kept its promise on every file: each one accepted as runnable or rejected with a
        line, none raising anything else, hanging or killing the process. Not a matter of timing."""
        return not (self.impossible or self.lineless or self.tracebacks or self.hangs or self.crashes)

    @property
    def within_budget(self) -> bool:
        """No file took over ``SLOW`` seconds and memory stayed under budget: figures of this machine
        at this moment (a loaded machine is slower), shown beside the promise, never mixed into it."""
        return not self.slow and self.peak_mb < MEMORY_BUDGET_MB

    @property
    def ok(self) -> bool:
        return self.kept and self.within_budget

    def describe(self, kind: str, text: str) -> None:
        shown = self.described.setdefault(kind, [])
        if len(shown) < SHOWN:
            shown.append(text)


class _Hang(BaseException):
    """Raised by the alarm in the middle of a file: a BaseException, so no ``except Exception`` in
    the loader can swallow it."""


def _rss_kb() -> int:
    """This process's resident memory now (kB), from ``/proc``; its high-water mark elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _where(exc: BaseException) -> str:
    """The innermost frame of the package an exception passed through: where to look."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "tcpconform" in f.filename]
    if not frames:
        return "outside the package"
    last = frames[-1]
    return f"{last.filename.rsplit('tcpconform/', 1)[-1]}:{last.lineno} in {last.name}"


def _load_one(path: Path, limit: float) -> dict[str, Any]:
    """Load one mutant under the alarm; its outcome as a record for the parent."""
    has_lines = path.stat().st_size > 0
    t0 = time.perf_counter()
    record: dict[str, Any] = {"outcome": "accepted"}
    try:
        try:
            signal.setitimer(signal.ITIMER_REAL, limit)
            cases = load_cases([path])
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        why = impossible(cases)
        if why is not None:
            record.update(outcome="impossible", what=why)
    except CaseFileError as exc:
        record["outcome"] = "rejected"
        lineless = [e for e in exc.errors if e.line is None]
        if has_lines and lineless:
            record.update(lineless=True, what=str(lineless[0]))
    except _Hang:
        record.update(outcome="hang", what=f"interrupted after {limit:g} s")
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # the finding itself: anything else is a traceback
        record.update(outcome="traceback", what=f"{type(exc).__name__}: {str(exc)[:160]} ({_where(exc)})")
    record["seconds"] = time.perf_counter() - t0
    return record


def _child(commands: int, answers: int, limit: float) -> None:
    """Load the file named by each line of ``commands``, answer a JSON line on ``answers``; never returns."""
    def alarm(signum: int, frame: Any) -> None:
        raise _Hang

    status = 0
    try:
        os.environ["TCPC_CASE_CACHE"] = "off"
        casecache.directory.cache_clear()
        signal.signal(signal.SIGALRM, alarm)
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        used = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 * 8  # generous: mappings exceed RSS
        if soft == resource.RLIM_INFINITY:
            resource.setrlimit(resource.RLIMIT_AS, (used + HEADROOM, hard))
        os.write(answers, json.dumps({"start_kb": _rss_kb()}).encode() + b"\n")
        with os.fdopen(commands) as lines:
            for line in lines:
                record = _load_one(Path(line.rstrip("\n")), limit)
                os.write(answers, json.dumps(record).encode() + b"\n")
    except BaseException:  # a failure of the campaign itself: the parent counts a crash
        status = 70
    finally:
        os._exit(status)  # never back into the caller's code (pytest, click) in the child


class _Loader:
    """The child process that loads, from the parent's side: started again after it hangs or dies."""

    def __init__(self, tally: Tally, limit: float) -> None:
        self.tally, self.limit = tally, limit
        self.pid = 0
        self.commands = self.answers = -1
        self.buffer = b""
        self.killed = False
        """Whether the last child was killed for answering nothing (a hang, not a crash)."""

    def start(self) -> None:
        command_read, self.commands = os.pipe()
        self.answers, answer_write = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self.commands)
            os.close(self.answers)
            _child(command_read, answer_write, self.limit)
        os.close(command_read)
        os.close(answer_write)
        self.buffer, self.killed = b"", False
        first = self.answer()
        if first is not None and "start_kb" in first:
            self.tally.start_mb = self.tally.start_mb or first["start_kb"] / 1024

    def answer(self) -> dict[str, Any] | None:
        """The child's next JSON line, or ``None`` when it died or stopped answering (then it is gone)."""
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.answers], [], [], 2 * self.limit + 1)
            chunk = os.read(self.answers, 1 << 16) if ready else b""
            if not chunk:
                if not ready:  # stuck beyond the alarm's reach (in C code, signals blocked)
                    os.kill(self.pid, signal.SIGKILL)
                    self.killed = True
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        answer: dict[str, Any] = json.loads(line)
        return answer

    def load(self, path: Path) -> dict[str, Any] | None:
        if not self.pid:
            self.start()
        try:
            os.write(self.commands, os.fsencode(path) + b"\n")
        except BrokenPipeError:
            return None
        return self.answer()

    def stop(self) -> str:
        """End the child (it ends when its commands do), keep its peak memory; how it ended."""
        if not self.pid:
            return "not started"
        for fd in (self.commands, self.answers):
            os.close(fd)
        _, status, usage = os.wait4(self.pid, 0)
        self.pid = 0
        self.tally.peak_mb = max(self.tally.peak_mb, usage.ru_maxrss / 1024)
        if os.WIFSIGNALED(status):
            return f"signal {os.WTERMSIG(status)}"
        return f"exit {os.waitstatus_to_exitcode(status)}"


def _count(tally: Tally, record: dict[str, Any]) -> None:
    outcome, seconds, where = record["outcome"], record.get("seconds", 0.0), record["file"]
    if outcome == "accepted":
        tally.accepted += 1
    elif outcome == "rejected":
        tally.rejected += 1
        if record.get("lineless"):
            tally.lineless += 1
            tally.describe("lineless", f"{where}: {record['what']}")
    else:
        counter = {"traceback": "tracebacks", "hang": "hangs", "impossible": "impossible"}[outcome]
        setattr(tally, counter, getattr(tally, counter) + 1)
        tally.describe(outcome, f"{where}: {record['what']}")
    if seconds > SLOW and outcome != "hang":
        tally.slow += 1
        tally.describe("slow", f"{where}: {seconds:.2f} s")
    if seconds > tally.slowest:
        tally.slowest, tally.slowest_file = seconds, where


def campaign(n: int, seed: int, *, limit: float = HANG_LIMIT) -> Tally:
    """Load ``n`` mutants of campaign ``seed`` in a child process; what happened to each, counted."""
    tally = Tally(n, seed)
    t0 = time.perf_counter()
    loader = _Loader(tally, limit)
    with tempfile.TemporaryDirectory(prefix="tcpc-fuzz-") as tmp:
        try:
            for i in range(n):
                source, mutations, data = mutant(seed, i)
                path = Path(tmp, Path(source).name)
                path.write_bytes(data)
                where = f"#{i} {mutations} of {source}"
                record = loader.load(path)
                if record is not None:
                    _count(tally, {**record, "file": where})
                    continue
                killed = loader.killed
                ended = loader.stop()
                if killed:
                    tally.hangs += 1
                    tally.describe("hang", f"{where}: no answer within {2 * limit + 1:g} s: killed")
                else:
                    tally.crashes += 1
                    tally.describe("crash", f"{where}: the loading process died ({ended})")
        finally:
            loader.stop()
    tally.seconds = time.perf_counter() - t0
    return tally


def figures(tally: Tally) -> Iterator[str]:
    """A campaign's figures, one per line, with the first failures of each kind described."""
    yield (f"case files: {tally.tried:,} mutants of the bundled cases (seed {tally.seed}), loaded with the cache off: "
           f"{'all as promised' if tally.kept else 'PROMISE BROKEN'}"
           f"{'' if tally.within_budget else '; OVER the time or memory budget'}")
    yield f"  accepted {tally.accepted:,}, rejected {tally.rejected:,} with a CaseFileError"
    yield f"  accepted but impossible to run as written (case_audit): {tally.impossible:,}"
    yield f"  rejections without a line (of a file that has lines): {tally.lineless:,}"
    yield f"  tracebacks (any other exception): {tally.tracebacks:,}"
    yield f"  hangs (over {HANG_LIMIT:g} s): {tally.hangs:,}; crashes of the loading process: {tally.crashes:,}"
    yield f"  slowest file: {tally.slowest:.2f} s ({tally.slowest_file}); files over {SLOW:g} s: {tally.slow:,}"
    yield (f"  peak memory of the loading process: {tally.peak_mb:.0f} MB ({tally.start_mb:.0f} MB when it started; "
           f"budget {MEMORY_BUDGET_MB} MB)")
    rate = tally.tried / tally.seconds if tally.seconds else 0.0
    yield f"  throughput: {rate:,.0f} files/s ({tally.seconds:.1f} s)"
    for kind in ("traceback", "hang", "crash", "impossible", "lineless", "slow"):
        for text in tally.described.get(kind, []):
            yield f"  {kind}: {text}"
    if not tally.ok:
        yield (f"  make a file again with tcpconform.bench.mutations.mutant({tally.seed}, INDEX), "
               "INDEX the number after '#'")


def case_file_figures(n: int, seed: int) -> Iterator[str]:
    """``n`` mutated case files through the loader (see the module's docstring), as figures."""
    yield from figures(campaign(n, seed))
