"""A remote service with no agent: a target whose application acts on its own, as its service defines."""

from __future__ import annotations

from dataclasses import dataclass

from tcpconform.results import TargetEvent
from tcpconform.targets.base import Capability, TargetError
from tcpconform.tcp.payload import TESTER_SALT
from tcpconform.tcp.segment import FourTuple

SERVICES = ("echo",)
"""The services a remote target may run (``--service``)."""


@dataclass
class ServiceTarget:
    """A remote service with no agent: its application acts on its own, as its service defines.

    ``echo`` (RFC 862): it listens by itself, reads whatever arrives and sends it back, and closes
    when the peer closes.  Cases needing more (``app: write 700``) are skipped with the reason.
    """

    service: str
    ip: str
    port: int
    name: str = ""
    capabilities: Capability = Capability.NONE
    implied: frozenset[str] = frozenset({"listen", "read"})
    data_salt: int | None = TESTER_SALT
    """An echo's data is the tester's own, sent back."""

    def __post_init__(self) -> None:
        self.name = self.name or f"{self.service} service"

    def _no_agent(self, action: str) -> TargetError:
        return TargetError(f"the {self.service} service has no agent to {action}")

    def app_listen(self, key: FourTuple) -> None:
        raise self._no_agent("listen")

    def app_read(self, key: FourTuple, count: int) -> bytes:
        raise self._no_agent("read")

    def app_write(self, key: FourTuple, data: bytes) -> None:
        raise self._no_agent("write")

    def app_shutdown(self, key: FourTuple) -> None:
        raise self._no_agent("shutdown")

    def app_close(self, key: FourTuple) -> None:
        raise self._no_agent("close")

    def state(self, key: FourTuple) -> str | None:
        return None

    def drain_events(self) -> list[tuple[FourTuple, TargetEvent]]:
        return []

    def forget(self, key: FourTuple) -> None:
        pass
