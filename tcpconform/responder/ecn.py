"""ECN on an established connection of the reference responder (RFC 3168 6.1.2-6.1.5), once the
handshake set it up (:mod:`.negotiate`: an ECN-setup SYN answered by an ECN-setup SYN-ACK).

- Sending: every new data segment goes out ECN-capable, ECT(0) in the IP header's ECN field
  (6.1.2); pure ACKs, retransmissions, the SYN-ACK and window probes never are (6.1.1, 6.1.4, 6.1.5).
- Receiving a segment marked CE (both ECN bits set): from then on every segment sent carries ECE,
  until a segment arrives with CWR, which is the peer saying it reduced its congestion window
  (6.1.3); a CWR segment that is itself CE-marked keeps ECE on.
- Receiving ECE on an ACK: the congestion window is halved (ssthresh = max(FlightSize / 2, 2 SMSS),
  cwnd = ssthresh, as a loss would, RFC 3168 6.1.2 / RFC 5681), at most once per window of data (an
  ECE for data sent before the last reaction is the same congestion), and the next new data segment
  carries CWR.

Faults: ``ecn-no-ect`` (ECN set up, but no data marked: the network cannot signal), ``ecn-no-echo``
(CE taken for nothing: ECE never set), ``ecn-echo-sticky`` (ECE kept after the peer's CWR: the
peer halves its window once per round trip for a single mark).
"""

from __future__ import annotations

from dataclasses import dataclass

from tcpconform.responder.congestion import Congestion
from tcpconform.tcp import seqnum
from tcpconform.tcp.ip import IpHeader
from tcpconform.tcp.segment import Flags, Segment

__all__ = ["CE", "ECN_FAULTS", "ECT0", "EcnState"]

ECT0 = 0b10
"""ECT(0) in the IP header's two ECN bits (RFC 3168 5)."""
CE = 0b11
"""Congestion Experienced."""

ECN_FAULTS = frozenset({"ecn-no-ect", "ecn-no-echo", "ecn-echo-sticky"})
"""The faults of ECN use (named in :data:`~tcpconform.responder.faults.FAULTS`)."""


@dataclass(slots=True)
class EcnState:
    """One connection's ECN state: ``on`` once the handshake set ECN up."""

    on: bool
    echo: bool = False
    """ECE owed on every segment sent: a CE mark came, and no CWR since."""
    cwr_due: bool = False
    """CWR owed on the next new data segment: the peer's ECE was acted on."""
    reacted_to: int | None = None
    """SND.NXT when the window was last halved for an ECE: an ECE for data before it changes nothing."""

    def received(self, seg: Segment, snd_nxt: int, cc: Congestion, flight: int, smss: int, faults: frozenset[str]) -> None:
        """An acceptable segment arrived: its CWR, its CE mark and its ECE, in that order."""
        if not self.on or seg.flags & (Flags.SYN | Flags.RST):
            return
        if seg.flags & Flags.CWR and "ecn-echo-sticky" not in faults:
            self.echo = False
        tos = seg.ip.tos if seg.ip is not None and seg.ip.tos is not None else 0
        if tos & CE == CE and "ecn-no-echo" not in faults:
            self.echo = True
        fresh = self.reacted_to is None or seqnum.gt(seg.ack, self.reacted_to)
        if seg.flags & Flags.ECE and seg.flags & Flags.ACK and fresh:
            self.reacted_to, self.cwr_due = snd_nxt, True
            cc.start(smss)
            cc.ssthresh = max(flight // 2, 2 * smss)
            cc.cwnd = cc.ssthresh

    def flags(self, flags: Flags, new_data: bool) -> Flags:
        """The ECN flags a segment other than a SYN gains: ECE while owed, CWR on the new data owing it."""
        if not self.on or flags & (Flags.SYN | Flags.RST):
            return Flags.NONE
        out = Flags.ECE if self.echo else Flags.NONE
        if new_data and self.cwr_due:
            self.cwr_due = False
            out |= Flags.CWR
        return out

    def marked(self, seg: Segment, new_data: bool, faults: frozenset[str]) -> Segment:
        """``seg`` with ECT(0) in its IP header if it is new data on an ECN connection."""
        if not self.on or not new_data or seg.flags & (Flags.SYN | Flags.RST) or "ecn-no-ect" in faults:
            return seg
        ip = seg.ip or IpHeader()
        return seg.with_(ip=IpHeader(ip.ttl, ((ip.tos or 0) & ~CE) | ECT0, ip.options, ip.dest_options))
