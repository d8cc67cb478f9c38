"""The package's error root, and the one class that means "this environment cannot do it".

Rule: everything this package raises on purpose derives from :class:`TcpconformError`; any other
exception escaping a case or a command is a bug of ours and is reported as one.  A
:class:`SetupError` is the environment's: no privileges, no interface, no lab, a target that
cannot be reached.  A :class:`UsageError` is the user's input: a case file, a baseline or an
option that says something impossible, named by file, line and field.  The command line turns
either into a message and exit code 2, the pytest plugin into one session error; neither needs to
know which layer raised it.
"""

from __future__ import annotations

__all__ = ["SetupError", "TcpconformError", "UsageError"]


class TcpconformError(Exception):
    """Raised on purpose by this package."""


class SetupError(TcpconformError):
    """The environment cannot do what was asked: exit code 2, the message shown as it is."""


class UsageError(TcpconformError):
    """The user's input cannot be used as it is: exit code 2, the message naming file, line and field."""
