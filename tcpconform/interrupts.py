"""A Ctrl-C that cannot be lost.

Python runs a signal's handler at the next bytecode of the main thread, wherever that is; when it is
inside a weakref callback or a ``__del__`` (run by the garbage collector), the KeyboardInterrupt the
handler raises is "ignored" there, and a run would go on as if nothing had been pressed.  So the
command's SIGINT handler also notes the interrupt, and the scheduler, which is where a run spends its
time, raises it again at its next turn (:func:`check`): a turn comes at least every
:data:`TURN` seconds on a real clock.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

__all__ = ["TURN", "check", "ignore_from_now", "install", "on_sigint", "taken"]

TURN = 0.25
"""The longest the scheduler waits on a real clock before looking for a noted interrupt."""

_noted = False


def on_sigint(signum: int, frame: FrameType | None) -> None:
    """The command's SIGINT handler: note the interrupt, then raise it as Python's own handler does."""
    global _noted
    _noted = True
    raise KeyboardInterrupt


def install() -> None:
    """Note every Ctrl-C (from the main thread, where Python's default handler is in place)."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, on_sigint)


def check() -> None:
    """Raise the KeyboardInterrupt of a Ctrl-C noted and not yet taken (it is taken by raising it)."""
    global _noted
    if _noted:
        _noted = False
        raise KeyboardInterrupt


def taken() -> None:
    """The interrupt was caught where it was meant to be: nothing is left to raise again."""
    global _noted
    _noted = False


def ignore_from_now() -> None:
    """From here the command has its outcome (written, and its exit code chosen): what is left is
    removing what it made, at interpreter exit.  A Ctrl-C then would only break that removal
    halfway and print a traceback over a finished run, so it is ignored (SIGTERM still ends it)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
