"""The engine: runs test cases over a link against a target.  See :mod:`.case` and :mod:`.scheduler`."""

from tcpconform.engine.case import CaseRun, CaseSettings, required_capabilities
from tcpconform.engine.connection import CaseError, Conn
from tcpconform.engine.scheduler import Scheduler

__all__ = ["CaseError", "CaseRun", "CaseSettings", "Conn", "Scheduler", "required_capabilities"]
