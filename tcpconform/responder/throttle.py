"""RFC 5961 7: the responder's challenge ACKs are throttled, per connection.

"An implementation SHOULD include an ACK throttling mechanism to be conservative"; the RFC's
example is no more than 10 challenge ACKs in any 5 second window, which the responder keeps, per
connection (a host-wide limit is the side channel of CVE-2016-5696).  The limit only ever drops a
challenge ACK: the segment that deserved it is discarded as before.  The fault
``no-challenge-ack-throttle`` answers every trigger, as lwIP's ``tcp_process`` does.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

CHALLENGE_LIMIT = 10
"""Challenge ACKs a connection sends at most in any :data:`CHALLENGE_WINDOW` (RFC 5961 7's example)."""
CHALLENGE_WINDOW = 5.0
"""Seconds over which :data:`CHALLENGE_LIMIT` counts."""


@dataclass
class ChallengeThrottle:
    """When a connection's last challenge ACKs went out, within the window."""

    sent: deque[float] = field(default_factory=deque)

    def allows(self, now: float, faults: frozenset[str]) -> bool:
        """Whether a challenge ACK may go out at ``now``; one that may is counted."""
        if "no-challenge-ack-throttle" in faults:
            return True
        while self.sent and self.sent[0] <= now - CHALLENGE_WINDOW:
            self.sent.popleft()
        if len(self.sent) >= CHALLENGE_LIMIT:
            return False
        self.sent.append(now)
        return True
