"""The ``tcpconform`` command's entry, and the lab's resident tester it hands runs to.

``tcpconform run --lab ...`` on a lab brought up with ``tcpconform lab up`` is handed to that lab's
resident tester (:mod:`tcpconform.lab.resident`): a process that has imported the package and read
the catalogue once, and forks a child for each run.  The child takes this process's standard
streams (passed as file descriptors), working directory, environment, umask and arguments, and
runs the command exactly as :func:`tcpconform.cli.entry` would; this process forwards Ctrl-C and
SIGTERM to it and exits with its exit status.  Anything else, or no resident tester, or
``TCPCONFORM_RESIDENT=off``, runs here as it always did.

The resident tester's side (``python -m tcpconform.launch --resident NAME``): one process, one
thread, a ``select`` over its listening socket, each child's pidfd and each client's connection.
It holds a spare packet socket on the lab's tester interface that the next child takes
(:func:`tcpconform.links.packet_socket.open_spare`), and closes its own reference to it, and opens
the next, only after that child's end was answered; a child ends without the interpreter's
teardown once the run's exit actions ran (:class:`_Ending`).
A client that goes away before its child ended (``kill -9``) gets its child SIGTERMed, so the run's
own clean-up happens; a child's end (its wait status) is written to its client.  When a file of the
package changed since it started (:func:`tcpconform.cases.cache.package_stamp`), it answers
``stale`` and executes itself anew, so a run never executes code older than what is installed.

Invariants: this module imports only the standard library at module level, and
:mod:`tcpconform.lab.resident` only for a run on a lab (it is what every ``tcpconform`` command
imports first); the resident tester never
starts a thread (it forks) and never registers clean-up actions of its own, so a child starts
with none.
"""

from __future__ import annotations

import array
import atexit
import contextlib
import gc
import io
import json
import os
import select
import signal
import socket
import sys
from typing import Any

__all__ = ["entry", "forward", "serve"]

OFF_ENV = "TCPCONFORM_RESIDENT"
"""``off`` in the environment: never hand a run to a resident tester."""
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STD_FDS = (0, 1, 2)
PACKAGE = os.path.dirname(os.path.abspath(__file__))
"""This install's package folder: with Python's version, what a resident tester must share with its client."""
WARM_PACKAGES = ("tcp", "wire", "lab", "links", "responder", "results", "cases", "targets", "gate", "engine",
                 "session", "report", "run", "cli")
"""What the resident tester imports before it serves: all a ``run`` can reach (not bench, learn, the
pytest plugin)."""
REQUEST_WAIT = 5.0
"""Seconds the resident tester waits for a connected client's request before dropping it."""


# -- the client ---------------------------------------------------------------------------------------
def _lab_name(args: list[str]) -> str | None:
    """The lab a ``run`` on a lab names (``--lab-name``, default ``0``), or None if ``args`` is no such run."""
    if not args or args[0] != "run" or not any(a == "--lab" or a.startswith("--lab=") for a in args):
        return None
    name = "0"
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--lab-name" and i + 1 < len(args):
            name = args[i + 1]
        elif arg.startswith("--lab-name="):
            name = arg.split("=", 1)[1]
    return name


def _request(args: list[str]) -> tuple[bytes, list[int]] | None:
    """The request for ``args`` and the standard fds that go with it; None where this process has no
    working directory to give (removed under it): it then runs here, and says so itself."""
    try:
        cwd = os.getcwd()
    except OSError:
        return None
    fds = []
    for fd in STD_FDS:
        try:
            os.fstat(fd)
        except OSError:
            continue
        fds.append(fd)
    stdout = sys.stdout if sys.stdout is not None else sys.__stdout__
    body = json.dumps({"argv": args, "cwd": cwd, "env": dict(os.environ), "umask": _umask(), "fds": fds, "code": _code(),
                       "encoding": getattr(stdout, "encoding", None), "errors": getattr(stdout, "errors", None)})
    data = body.encode()
    return len(data).to_bytes(4, "big") + data, fds


def _code() -> str:
    """Which tcpconform and Python this is: a resident tester of another install or another Python
    does not run this process's command."""
    return f"{PACKAGE} {sys.version}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def forward(args: list[str]) -> int | None:
    """Hand ``args`` (a command line after ``tcpconform``) to its lab's resident tester and return
    the exit status; None if it is not handed over (no such run, no resident tester, a stale one)."""
    name = _lab_name(args)
    if name is None or os.environ.get(OFF_ENV, "").lower() in ("off", "0", "no"):
        return None
    from tcpconform.lab import resident  # only for a run on a lab: every other command starts without it

    sock = resident.connect(name)
    if sock is None:
        return None
    with sock:
        made = _request(args)
        if made is None:
            return None
        data, fds = made
        try:
            sent = sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
            sock.sendall(data[sent:])
        except OSError:
            return None
        reader = sock.makefile("r", encoding="ascii", newline="\n")
        try:
            first = reader.readline().split()
        except OSError:  # a resident tester executing itself anew drops what waited to be accepted
            return None
        if len(first) != 2 or first[0] != "pid":
            return None  # stale, or gone: the run has not started, it runs here
        pid = int(first[1])
        previous = {sig: signal.signal(sig, lambda signum, frame: _pass_on(pid, signum)) for sig in FORWARDED_SIGNALS}
        try:
            last = reader.readline().split()
        except OSError:
            last = []
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    if len(last) == 2 and last[0] == "exit":
        return int(last[1])
    print("tcpconform: the lab's resident tester ended before the run did; its exit status is unknown "
          "(`tcpconform lab up` starts another)", file=sys.stderr)
    return 3


def _exit_now(code: int) -> None:
    """Flush the standard streams and end the process with ``code``, skipping the interpreter's
    teardown (a forked child's teardown touches every object it shares with its parent: some 20 ms)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or broken stream: nothing more can reach it
            if stream is not None:
                stream.flush()
    os._exit(code)


def _pass_on(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def entry() -> None:
    """The installed ``tcpconform`` command."""
    code = forward(sys.argv[1:])
    if code is not None:
        _exit_now(code)  # nothing of this process's own is left to clean up: its run was the child's
    from tcpconform.cli import entry as cli_entry

    cli_entry()


# -- the resident tester ------------------------------------------------------------------------------
class _Request:
    """What a client sent: its command line and process context, and its standard streams' fds."""

    def __init__(self, body: dict[str, Any], fds: list[int]) -> None:
        self.argv = [str(a) for a in body["argv"]]
        self.cwd = str(body["cwd"])
        self.env = {str(k): str(v) for k, v in body["env"].items()}
        self.umask = int(body["umask"])
        self.encoding = body.get("encoding") or None
        self.errors = body.get("errors") or None
        self.fds = dict(zip([int(fd) for fd in body["fds"]], fds, strict=False))
        self.code = str(body.get("code"))


def _receive(conn: socket.socket) -> _Request | None:
    conn.settimeout(REQUEST_WAIT)
    fds = array.array("i")
    try:
        # Close-on-exec: a resident tester that executes itself anew must not keep a client's streams.
        data, ancdata, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(len(STD_FDS) * fds.itemsize), socket.MSG_CMSG_CLOEXEC)
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:4], "big"):
            more = conn.recv(65536)
            if not more:
                raise ValueError("short request")
            data += more
        body = json.loads(data[4:4 + int.from_bytes(data[:4], "big")])
        return _Request(body, list(fds))
    except (OSError, ValueError, KeyError, TypeError):
        for fd in fds:
            os.close(fd)
        return None
    finally:
        conn.settimeout(None)


def _warm() -> None:
    """Import everything a run may import, and compute what every run computes the same way from
    the package alone (never from the environment, which is each client's own)."""
    import importlib
    import pkgutil

    for name in WARM_PACKAGES:
        package = importlib.import_module(f"tcpconform.{name}")
        if hasattr(package, "__path__"):
            for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
                importlib.import_module(info.name)
    from tcpconform.cases.bundled import bundled_cases
    from tcpconform.cases.cache import code_fingerprint
    from tcpconform.cases.document import CaseFileError
    from tcpconform.cases.load import load_cases
    from tcpconform.cases.requirements import rfc9293

    code_fingerprint()
    rfc9293()
    with contextlib.suppress(CaseFileError):  # the bundled catalogue's ids, read once (a run checks them all)
        load_cases([bundled_cases().resolve()], lambda _: False)


class _Child:
    """A run in progress: the forked child (by pidfd), its client's connection, and the spare packet
    socket it was given (closed here only after the run's end was answered)."""

    def __init__(self, pid: int, conn: socket.socket, spare: Any) -> None:
        self.pid = pid
        self.conn = conn
        self.pidfd = os.pidfd_open(pid)
        self.spare = spare

    def close(self) -> None:
        self.conn.close()
        os.close(self.pidfd)
        if self.spare is not None:
            sock, ring = self.spare
            if ring is not None:
                ring.close()
            sock.close()


def _open_spare(name: str) -> Any:
    """A spare packet socket on lab ``name``'s tester interface for the next run (see
    :func:`tcpconform.links.packet_socket.open_spare`), or None where it cannot be opened (the run
    then opens its own)."""
    from tcpconform.errors import SetupError
    from tcpconform.lab.spec import lab_spec
    from tcpconform.links.packet_socket import open_spare

    lab = lab_spec(name)
    try:
        return open_spare(lab.tester_if, netns=lab.tester_ns)
    except (SetupError, OSError):
        return None


def _answer(conn: socket.socket, line: str) -> None:
    with contextlib.suppress(OSError):  # a client gone: nobody to tell
        conn.sendall(line.encode() + b"\n")


def serve(name: str) -> _Request:
    """Serve lab ``name``'s resident tester; returns only in a child, with the request it is to run."""
    from tcpconform.cases.cache import package_stamp
    from tcpconform.lab import resident
    from tcpconform.lab.netns import ns_path, setns, thread_netns
    from tcpconform.lab.spec import lab_spec
    from tcpconform.links.packet_socket import forget_spares

    home = thread_netns()
    target = os.open(ns_path(lab_spec(name).tester_ns), os.O_RDONLY | os.O_CLOEXEC)
    setns(target)
    os.close(target)
    known = package_stamp()  # before the imports: a file changed while they ran counts as changed
    _warm()
    gc.freeze()  # the warm heap stays shared with every child: the collector never writes to it
    spare = _open_spare(name)
    listener = resident.listen()  # only now: a client that finds it is served at once
    by_pidfd: dict[int, _Child] = {}
    by_conn: dict[int, _Child] = {}  # connections watched for their client going away
    while True:
        ready, _, _ = select.select([listener.fileno(), *by_pidfd, *by_conn], [], [])
        for fd in ready:
            if fd == listener.fileno():
                conn, _ = listener.accept()
                request = _receive(conn)
                if request is None:
                    conn.close()
                    continue
                if request.code != _code() or package_stamp() != known:
                    for received in request.fds.values():
                        os.close(received)
                    stale = request.code == _code()
                    _answer(conn, "stale" if stale else "other")  # either way the client runs it itself
                    conn.close()
                    if stale:
                        os.execv(sys.executable, [sys.executable, "-m", resident.MODULE, "--resident", name])
                    continue
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    for child in by_pidfd.values():
                        child.close()
                    conn.close()
                    setns(home)
                    os.close(home)
                    return request
                forget_spares()  # the child's to use now
                for received in request.fds.values():
                    os.close(received)
                child = _Child(pid, conn, spare)
                spare = None
                by_pidfd[child.pidfd] = by_conn[conn.fileno()] = child
                _answer(conn, f"pid {pid}")
            elif fd in by_pidfd:
                child = by_pidfd.pop(fd)
                by_conn.pop(child.conn.fileno(), None)
                code = os.waitstatus_to_exitcode(os.waitpid(child.pid, 0)[1])
                _answer(child.conn, f"exit {code if code >= 0 else 128 - code}")
                child.close()  # its spare's close waits for the kernel (see open_spare): after the answer
                if spare is None:
                    spare = _open_spare(name)
            else:
                child = by_conn.pop(fd)  # readable before its end: its client went away (kill -9)
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(child.pidfd, signal.SIGTERM)  # so the run's own clean-up happens


def _become(request: _Request) -> None:
    """This forked child as the client's process: its streams, environment, umask, arguments (the
    directory is the caller's to enter, once the client's stderr is this process's)."""
    for sig in FORWARDED_SIGNALS:
        signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in STD_FDS:
        os.dup2(request.fds.get(fd, null), fd)
    for fd in {*request.fds.values(), null}:
        if fd not in STD_FDS:
            os.close(fd)
    os.umask(request.umask)
    os.environ.clear()
    os.environ.update(request.env)
    enc, errs = request.encoding, request.errors
    # The process's own streams for its life, never closed by it (closefd=False): no context manager.
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding=enc, errors=errs)
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding=enc, errors=errs,
                                  line_buffering=os.isatty(1))
    sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)), encoding=enc,
                                  errors=errs or "backslashreplace", line_buffering=True)
    sys.argv = ["tcpconform", *request.argv]


class _Ending:
    """How a forked child ends: the exit actions the run registered (``atexit``, in their order),
    then :func:`_exit_now`; the actions the resident tester registered before it forked are its own
    and do not run (as in a child of ``multiprocessing``), logging's flush apart."""

    def __init__(self) -> None:
        self.code = 1  # an exception that escaped: Python's own status for it

    def end(self, code: object) -> None:
        if isinstance(code, str):
            print(code, file=sys.stderr)
        self.code = code if isinstance(code, int) else 0 if code is None else 1
        sys.exit(self.code)

    def now(self) -> None:
        if "logging" in sys.modules:
            sys.modules["logging"].shutdown()
        _exit_now(self.code)


def main(argv: list[str]) -> None:
    """``python -m tcpconform.launch``: the command, or with ``--resident NAME`` a lab's resident tester."""
    if len(argv) == 2 and argv[0] == "--resident":
        request = serve(argv[1])
        ending = _Ending()
        atexit.register(ending.now)  # the child's first: it runs after every exit action of the run's own
        _become(request)
        from tcpconform.cli import entry as cli_entry

        try:
            os.chdir(request.cwd)
        except OSError as err:
            print(f"tcpconform: cannot enter {request.cwd}: {err.strerror}", file=sys.stderr)
            ending.end(2)
        try:
            cli_entry()
        except SystemExit as done:
            ending.end(done.code)
        ending.end(0)
    sys.argv = ["tcpconform", *argv]
    entry()


if __name__ == "__main__":
    main(sys.argv[1:])
