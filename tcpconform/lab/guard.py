"""Exit guards: what the lab and the firewall create is removed on every way out of a live process.

:func:`on_exit` registers an idempotent removal that runs at normal exit, after an exception,
on Ctrl-C (SIGINT) and on SIGTERM, unless the code that registered it cancels it first.  A
``kill -9`` cannot be guarded against; :mod:`tcpconform.lab.leftovers` finds what such a run left
and removes it.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from tcpconform.lab.netns import setns, thread_netns

_guard_lock = threading.RLock()
_actions: dict[int, tuple[str, Callable[[], object], int]] = {}
_owner = os.getpid()  # a forked child inherits the registry and atexit, but not what they guard
_keys = itertools.count(1)
_previous: dict[int, Any] = {}
_atexit_registered = False
GUARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def on_exit(action: Callable[[], object], label: str) -> Callable[[], None]:
    """Run ``action`` at interpreter exit or on SIGINT/SIGTERM, unless the returned *cancel* is called first.

    ``action`` must be idempotent: the code that registered it normally runs it itself and then
    cancels, and a signal can arrive in between.  Actions run newest first and their errors are
    swallowed (one failed removal must not stop the others).  Each runs in the network namespace
    its registering thread was in: a signal is handled on the main thread wherever that thread is,
    possibly inside :func:`tcpconform.lab.netns.in_netns`.  Signal handlers are installed only
    while some action is registered, and only from the main thread (the only one Python lets
    install them); a registration from another thread is covered at exit only.

    On a signal the handler runs every action, puts the previous handlers back and then does what
    the signal would have done: SIGINT raises KeyboardInterrupt (so ``finally`` blocks still run),
    SIGTERM with the default disposition is re-raised and ends the process as it would have.
    """
    global _atexit_registered
    with _guard_lock:
        _forget_if_forked()
        key = next(_keys)
        _actions[key] = (label, action, thread_netns())
        if not _atexit_registered:
            atexit.register(run_exit_actions)
            _atexit_registered = True
        if threading.current_thread() is threading.main_thread():
            for sig in GUARDED_SIGNALS:
                current = signal.getsignal(sig)
                # An ignored signal (nohup, a background job of a script) stays ignored: it will not
                # end the process, so it must not remove what the process is still using.
                if sig not in _previous and current is not signal.SIG_IGN:
                    _previous[sig] = current
                    signal.signal(sig, _on_signal)

    def cancel() -> None:
        with _guard_lock:
            entry = _actions.pop(key, None)
            if entry is not None:
                os.close(entry[2])
            if not _actions:
                _restore_handlers()

    return cancel


def pending_exit_actions() -> list[str]:
    """Labels of the actions currently registered (for diagnostics and tests)."""
    with _guard_lock:
        return [label for label, _, _ in _actions.values()]


def run_exit_actions() -> list[str]:
    """Run and forget every registered action, newest first; returns the labels of those that failed."""
    with _guard_lock:
        _forget_if_forked()
        todo = sorted(_actions.items(), reverse=True)
        _actions.clear()
    failed = []
    for _, (label, action, netns_fd) in todo:
        try:
            _run_in(netns_fd, action)
        except Exception:
            failed.append(label)
        finally:
            os.close(netns_fd)
    return failed


def _forget_if_forked() -> None:
    """In a forked child, drop the parent's actions: its exit must not remove the parent's lab."""
    global _owner
    if os.getpid() != _owner:
        for _, _, fd in _actions.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        _actions.clear()
        _owner = os.getpid()


def _run_in(netns_fd: int, action: Callable[[], object]) -> None:
    here = thread_netns()
    try:
        moved = os.fstat(here).st_ino != os.fstat(netns_fd).st_ino
        if moved:
            setns(netns_fd)
        try:
            action()
        finally:
            if moved:
                setns(here)
    finally:
        os.close(here)


def _restore_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # the next cancel or the signal itself, on the main thread, puts them back
    for sig, previous in list(_previous.items()):
        if signal.getsignal(sig) is _on_signal:  # someone installed theirs after ours: leave it
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        del _previous[sig]


def _on_signal(signum: int, frame: FrameType | None) -> None:
    with _guard_lock:
        previous = _previous.get(signum, signal.SIG_DFL)
    run_exit_actions()
    with _guard_lock:
        _restore_handlers()
    if callable(previous):
        previous(signum, frame)  # SIGINT's default_int_handler raises KeyboardInterrupt here
    else:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
