"""The engine: runs test cases over a link against a target.  See :mod:`.case`, :mod:`.steps` and :mod:`.scheduler`."""

from tcpconform.engine.case import CaseRun, required_capabilities
from tcpconform.engine.connection import TesterConnection
from tcpconform.engine.env import CaseSettings, StepEnv
from tcpconform.engine.outcome import CaseError, StepFailed, StepSkipped
from tcpconform.engine.scheduler import Scheduler

__all__ = ["CaseError", "CaseRun", "CaseSettings", "Scheduler", "StepEnv", "StepFailed", "StepSkipped",
           "TesterConnection", "required_capabilities"]
