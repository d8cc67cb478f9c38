"""What a case needs of its target, step by step: the ``needs`` column of :data:`~tcpconform.engine.steps.STEPS`.

A case's steps are read in order with one :class:`NeedsContext`, so a step's needs may depend on
the ones before it (an echo can be made to write only until the tester's FIN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tcpconform.cases.model import AppStep, SendStep
from tcpconform.targets.base import Capability
from tcpconform.tcp.segment import Flags


@dataclass
class NeedsContext:
    """What the steps before the one asked about did, as :func:`required_capabilities` reads a
    case's steps in order."""

    implied: frozenset[str]
    """The application actions the target performs by itself."""
    tester_closed: bool = False
    """A step before sent the tester's FIN: an echo can no longer be sent bytes to write."""
    writes_before_fin: bool = False
    """The application writes before the tester's first FIN."""


def needs_nothing(step: Any, context: NeedsContext) -> Capability:
    return Capability.NONE


def send_needs(step: SendStep, context: NeedsContext) -> Capability:
    """Data the tester sends needs an application that takes it; a FIN ends what it can send."""
    flags, length = step.segment.flags, step.segment.length
    if isinstance(flags, Flags) and flags & Flags.FIN and not flags & Flags.RST:
        context.tester_closed = True
    return Capability.READS if step.segment.payload or (isinstance(length, int) and length > 0) else Capability.NONE


def app_needs(step: AppStep, context: NeedsContext) -> Capability:
    """An application action needs an agent, unless the target's application does it by itself;
    an implied write (an echo's, played by sending it the bytes) only while the tester can send."""
    if step.action == "write" and (context.tester_closed or step.urgent):  # no echo writes urgent data
        return Capability.APP
    context.writes_before_fin |= step.action == "write"
    if step.action == "close" and context.tester_closed and "close-after-fin" in context.implied:
        return Capability.NONE
    return Capability.NONE if step.action in context.implied else Capability.APP
