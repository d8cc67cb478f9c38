"""The engine: runs test cases over a link against a target.  See :mod:`.case` and :mod:`.scheduler`."""

from .case import CaseRun, CaseSettings, required_capabilities
from .context import CaseError, Conn
from .scheduler import Scheduler

__all__ = ["CaseError", "CaseRun", "CaseSettings", "Conn", "Scheduler", "required_capabilities"]
