"""Round-trip time estimation and the retransmission timeout (RFC 6298, Karn's algorithm).

One segment at a time is timed (as BSD does): the first new sequence space sent while nothing is
being timed starts a measurement, and the ACK that covers its end gives the sample.  Invariants:

- a sample is taken only from a segment that was never retransmitted (Karn's rule, RFC 6298 3): a
  retransmission that covers the timed sequence cancels the measurement, so an ACK that could be
  for either transmission is no sample;
- the first sample R sets SRTT = R, RTTVAR = R/2 (2.2); each later one RTTVAR = 3/4 RTTVAR +
  1/4 |SRTT - R|, then SRTT = 7/8 SRTT + 1/8 R (2.3); after each, RTO = SRTT + max(G, 4 RTTVAR),
  rounded up to the minimum (1 s, 2.4; the configured initial RTO if that is smaller) and capped at
  :data:`~.config.MAX_RTO`;
- before the first sample RTO is the initial RTO (2.1); a timeout doubles it (5.5), and the
  backed-off RTO stays until a valid sample recomputes it (Karn: an ACK alone does not restore it).

The faults: ``karn-violated`` re-stamps the timed segment when it is retransmitted, so the ACK of a
retransmission gives a sample measured from the resend (a stack timestamping every transmission);
``no-rtt-estimate`` never adapts: every ACK of new data puts the RTO back to its initial value, the
responder's behaviour before it estimated anything.  ``short-rto`` makes both the initial and the
minimum RTO 200 ms (Linux's TCP_RTO_MIN).
"""

from __future__ import annotations

from dataclasses import dataclass

from tcpconform.responder.config import MAX_RTO, ResponderConfig
from tcpconform.tcp import seqnum

CLOCK_GRANULARITY = 0.001
"""G of RFC 6298 2: the responder's timers are as fine as its caller's clock; 1 ms is what it claims."""

MIN_RTO = 1.0
"""RFC 6298 2.4: "if it is less than 1 second, then the RTO SHOULD be rounded up to 1 second"."""

SHORT_RTO = 0.2
"""The initial and minimum RTO under the ``short-rto`` fault (Linux's TCP_RTO_MIN)."""


@dataclass(slots=True)
class RttEstimator:
    """SRTT, RTTVAR and RTO of one connection, with the measurement under way."""

    initial: float
    minimum: float
    karn: bool = True
    adapt: bool = True
    srtt: float | None = None
    rttvar: float = 0.0
    rto: float = 0.0
    timing: tuple[int, float] | None = None
    """(end of the timed sequence space, when it was sent), or None when nothing is timed."""

    @classmethod
    def for_config(cls, cfg: ResponderConfig) -> RttEstimator:
        """The estimator of a new connection under ``cfg`` (its initial RTO and its faults)."""
        short = cfg.has("short-rto")
        initial = SHORT_RTO if short else cfg.rto
        minimum = SHORT_RTO if short else min(MIN_RTO, cfg.rto)
        est = cls(initial=initial, minimum=minimum, karn=not cfg.has("karn-violated"), adapt=not cfg.has("no-rtt-estimate"))
        est.rto = initial
        return est

    def sent(self, end: int, now: float) -> None:
        """New sequence space ending at ``end`` went out: time it if nothing is being timed."""
        if self.timing is None:
            self.timing = (end, now)

    def retransmitted(self, seq: int, end: int, now: float) -> None:
        """``seq..end`` went out again: a measurement it covers is ambiguous from now on (Karn)."""
        if self.timing is None or not (seqnum.lt(seq, self.timing[0]) and seqnum.le(self.timing[0], end)):
            return
        self.timing = (self.timing[0], now) if not self.karn else None

    def backoff(self) -> None:
        """A retransmission timeout: RTO <- 2 RTO (RFC 6298 5.5), up to the cap."""
        self.rto = min(self.rto * 2, MAX_RTO)

    def acked(self, ack: int, now: float) -> bool:
        """SND.UNA advanced to ``ack``: the sample if it covers the timed segment.  True if one was taken."""
        if not self.adapt:
            self.rto, self.timing = self.initial, None
            return False
        if self.timing is None or seqnum.lt(ack, self.timing[0]):
            return False
        self.sample(now - self.timing[1])
        self.timing = None
        return True

    def restart(self) -> None:
        """Forget the backoff and the measurement (the SYN acknowledged after a SYN timeout)."""
        self.timing = None
        self.rto = self.initial if self.srtt is None else self._computed()

    def sample(self, r: float) -> None:
        """One valid RTT measurement ``r`` (RFC 6298 2.2, 2.3), and the RTO it gives (2.4, 2.5)."""
        r = max(r, 0.0)
        if self.srtt is None:
            self.srtt, self.rttvar = r, r / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - r)
            self.srtt = 0.875 * self.srtt + 0.125 * r
        self.rto = self._computed()

    def _computed(self) -> float:
        srtt = self.srtt or 0.0
        return min(max(self.minimum, srtt + max(CLOCK_GRANULARITY, 4 * self.rttvar)), MAX_RTO)
