"""The package's error root, and the one class that means "this environment cannot do it".

Rule: everything this package raises on purpose derives from :class:`TcpconformError`; any other
exception escaping a case or a command is a bug of ours and is reported as one.  A
:class:`SetupError` is the environment's: no privileges, no interface, no lab, a target that
cannot be reached.  The command line turns it into a message and exit code 2, the pytest plugin
into one session error; neither needs to know which layer raised it.
"""

from __future__ import annotations

__all__ = ["SetupError", "TcpconformError"]


class TcpconformError(Exception):
    """Raised on purpose by this package."""


class SetupError(TcpconformError):
    """The environment cannot do what was asked: exit code 2, the message shown as it is."""
