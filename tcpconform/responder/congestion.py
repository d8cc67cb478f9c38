"""Congestion control of a reference-responder connection (RFC 5681, with RFC 6582's recovery point).

:class:`Congestion` holds cwnd, ssthresh and the recovery state; the send side (:mod:`.send`) asks it
how much new data may go out and tells it of ACKs, duplicate ACKs and timeouts.  Invariants:

- cwnd starts at the initial window IW = min(4 SMSS, max(2 SMSS, 4380)) bytes (RFC 5681 3.1), or
  ``initial_window`` segments when the configuration says so (RFC 6928's 10 is the usual one); new
  data goes out only while what is in flight stays within cwnd (and the peer's window);
- an ACK of new data grows cwnd by min(acked, SMSS) below ssthresh (slow start) and by about
  SMSS * SMSS / cwnd above it (congestion avoidance, 3.1);
- a retransmission timeout sets ssthresh = max(FlightSize / 2, 2 SMSS) on its first expiry and cwnd
  to the loss window, one segment (3.1); what was outstanding is then resent oldest first as the ACKs
  open cwnd again (go-back-N: :attr:`Congestion.resend_from` up to :attr:`Congestion.resend_to`), and
  no new data goes out until it all was;
- the third duplicate ACK (RFC 5681 2: nothing new acknowledged, no data, no SYN or FIN, the same
  window, data outstanding) retransmits the oldest segment at once (fast retransmit, 3.2), sets
  ssthresh as a timeout does and cwnd = ssthresh + 3 SMSS, each further one inflating cwnd by SMSS;
  an ACK of everything sent before that ends the recovery with cwnd = ssthresh, a partial one resends
  the next oldest segment (RFC 6582 3.2).

The faults: ``no-slow-start`` never limits new data by cwnd (the peer's whole window goes out at
once); ``no-fast-retransmit`` ignores duplicate ACKs; ``rto-resends-window`` resends everything
outstanding at once on a timeout (:mod:`.send` does it).
"""

from __future__ import annotations

from dataclasses import dataclass

from tcpconform.responder.config import ResponderConfig
from tcpconform.tcp import seqnum

DUPACK_THRESHOLD = 3
"""RFC 5681 3.2: the third duplicate ACK is taken as a loss."""


def initial_window(smss: int, segments: int | None) -> int:
    """IW in bytes: RFC 5681 3.1's bound, or ``segments`` (RFC 6928: min(10 SMSS, max(2 SMSS, 14600)) for 10)."""
    if segments is None:
        return min(4 * smss, max(2 * smss, 4380))
    return min(segments * smss, max(2 * smss, 14600)) if segments == 10 else segments * smss


@dataclass(slots=True)
class Congestion:
    """cwnd, ssthresh and the loss recovery under way of one connection (bytes; 0 cwnd: not started)."""

    iw_segments: int | None = None
    limits: bool = True
    fast_retransmit: bool = True
    cwnd: int = 0
    ssthresh: int = 0x7FFFFFFF
    dupacks: int = 0
    recover: int | None = None
    """SND.NXT when fast recovery began; None outside it."""
    resend_from: int | None = None
    """After a timeout: the next outstanding sequence number to resend; None when none is owed."""
    resend_to: int = 0
    """SND.NXT at the timeout: what go-back-N resends stops there."""

    @classmethod
    def for_config(cls, cfg: ResponderConfig) -> Congestion:
        return cls(iw_segments=cfg.initial_window, limits=not cfg.has("no-slow-start"),
                   fast_retransmit=not cfg.has("no-fast-retransmit"))

    def start(self, smss: int) -> None:
        """Set cwnd to IW the first time data is to go out (SMSS is known only then)."""
        if self.cwnd == 0:
            self.cwnd = initial_window(smss, self.iw_segments)

    def allowance(self, in_flight: int, smss: int) -> int | None:
        """How many bytes of new data cwnd lets go out now; None: cwnd limits nothing (the fault)."""
        self.start(smss)
        if self.resend_from is not None:
            return 0  # the outstanding data is resent first
        return None if not self.limits else max(self.cwnd - in_flight, 0)

    def acked(self, acked: int, ack: int, smss: int) -> bool:
        """An ACK of ``acked`` new bytes up to ``ack``.  True: a partial ACK in recovery, resend the oldest."""
        self.start(smss)
        self.dupacks = 0
        if self.resend_from is not None and seqnum.ge(ack, self.resend_to):
            self.resend_from = None
        if self.recover is not None:
            if seqnum.ge(ack, self.recover):
                self.cwnd, self.recover = self.ssthresh, None
                return False
            self.cwnd = max(self.cwnd - acked + smss, smss)
            return True
        if self.cwnd < self.ssthresh:
            self.cwnd += min(acked, smss)
        else:
            self.cwnd += max(1, smss * smss // self.cwnd)
        return False

    def duplicate(self, flight: int, snd_nxt: int, smss: int) -> bool:
        """A duplicate ACK.  True: it is the third, so the oldest segment is to be resent now."""
        self.start(smss)
        if not self.fast_retransmit or self.resend_from is not None:
            return False
        self.dupacks += 1
        if self.recover is not None:
            self.cwnd += smss
            return False
        if self.dupacks != DUPACK_THRESHOLD:
            return False
        self.ssthresh = max(flight // 2, 2 * smss)
        self.cwnd, self.recover = self.ssthresh + DUPACK_THRESHOLD * smss, snd_nxt
        return True

    def go_back(self, outstanding: list[tuple[int, int]], snd_una: int) -> list[int]:
        """Which of the ``outstanding`` (seq, end) entries, oldest first, to resend now after a timeout: those not
        yet resent, up to SND.NXT at the timeout, while what was resent and not acknowledged fits cwnd."""
        if self.resend_from is None:
            return []
        if seqnum.lt(self.resend_from, snd_una):
            self.resend_from = snd_una
        picks: list[int] = []
        for index, (seq, end) in enumerate(outstanding):
            if seqnum.le(end, self.resend_from):
                continue
            pipe = seqnum.diff(self.resend_from, snd_una)
            if seqnum.ge(seq, self.resend_to) or (pipe > 0 and pipe + seqnum.diff(end, seq) > self.cwnd):
                break
            picks.append(index)
            self.resend_from = end
        if seqnum.ge(self.resend_from, self.resend_to):
            self.resend_from = None
        return picks

    def timeout(self, first: bool, flight: int, resend_from: int, snd_nxt: int, smss: int) -> None:
        """The retransmission timer expired and the oldest segment was resent (up to ``resend_from``)."""
        self.start(smss)
        if first:
            self.ssthresh = max(flight // 2, 2 * smss)
        self.cwnd, self.dupacks, self.recover = smss, 0, None
        self.resend_from, self.resend_to = resend_from, snd_nxt
        if seqnum.ge(resend_from, snd_nxt):
            self.resend_from = None
