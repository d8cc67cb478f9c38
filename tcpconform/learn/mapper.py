"""The learner's alphabet, and the mapper between abstract letters and concrete segments.

The learner (AALpy) sees a TCP server as a Mealy machine over abstract letters; this module turns
each letter into the one segment it stands for on the query's connection, and what the target sent
back into one abstract output.  The mapper keeps the numbers of one query (one 4-tuple) and is
started afresh for the next, so every query begins from the target's LISTEN on a port it has never
seen that 4-tuple on.

Invariants:

- the tester's numbers are the ones a conformant peer would use: its SYN at its ISN, everything
  after at the next unused sequence number (``snd_nxt``), acknowledging what the target sent so far
  (``rcv_nxt``; 0 before its SYN was seen).  So the letters name *events* (RFC 9293 3.10's: a SYN,
  an ACK, data, a FIN, a RST) with acceptable numbers, and the machine learnt is the target's event
  processing, not its sequence-number checks (which the catalogue's cases cover);
- an output names each segment the target sent before it went quiet: its flags, and whether its
  ACK acknowledges everything the tester sent (``ack`` / ``ack?``), in arrival order joined by
  ``+``; nothing at all is ``quiet``.  A bare ACK followed by data with the same acknowledgment
  counts as the data alone: whether a stack sends its ACK apart or on its data is timing.  Numbers
  themselves never reach the learner (an ISN differs on every query), so the outputs of a
  deterministic stack repeat exactly;
- the application's letters (:data:`APP_INPUTS`, a target with an agent) are its calls on the
  query's connection, which the application holds only from the tester's completing handshake (its
  ACK of the target's last SYN; a listening socket's connection is accepted, on demand, once
  established) until its own successful ``close`` or the target's next SYN: outside that span
  there is nothing to call on, and the letter answers ``refused`` without a call, as a failing
  call does.  So an answer never
  depends on how an agent queues a call made before the connection exists (an agent's accept on
  demand fails; the reference's TCB takes the data), nor on a call on a descriptor already closed.
"""

from __future__ import annotations

from dataclasses import dataclass

from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, FourTuple, Segment

__all__ = ["APP_INPUTS", "DATA", "INPUTS", "QUIET", "REFUSED", "TESTER_ISN", "Mapper", "describe"]

TESTER_ISN = 1000
"""The tester's ISN on every query: the same everywhere, so exported cases read alike."""
DATA = b"0123456789"
"""What ``ACK+DATA`` carries, and what ``WRITE`` writes."""
WINDOW = 5000

INPUTS: dict[str, Flags] = {
    "SYN": Flags.SYN,
    "SYN+ACK": Flags.SYN | Flags.ACK,
    "ACK": Flags.ACK,
    "ACK+DATA": Flags.PSH | Flags.ACK,
    "FIN+ACK": Flags.FIN | Flags.ACK,
    "RST": Flags.RST,
    "RST+ACK": Flags.RST | Flags.ACK,
}
"""The abstract inputs and the flags of the segment each stands for."""
QUIET = "quiet"
"""The output of a step after which the target sent nothing before the quiescence timeout."""
APP_INPUTS: dict[str, str] = {"WRITE": f"write {len(DATA)}", "CLOSE": "close"}
"""The application's letters, and the ``app`` step each is in a case file: it writes :data:`DATA`,
it closes its connection."""
REFUSED = "refused"
"""The output of an application letter whose call failed, or that had no connection to call on."""

_NAMES = ((Flags.SYN, "S"), (Flags.FIN, "F"), (Flags.RST, "R"), (Flags.PSH, "P"), (Flags.ACK, "A"))


@dataclass
class Mapper:
    """One query's numbers on the connection ``key`` (tester to target)."""

    key: FourTuple
    snd_nxt: int = TESTER_ISN
    rcv_nxt: int | None = None
    """The target's next sequence number as far as the tester has seen (None: no SYN from it yet)."""
    acked: int | None = None
    """What the tester's last segment carrying an ACK acknowledged."""
    accepted: bool = False
    """Whether the tester completed a handshake: it acknowledged the target's last SYN."""
    app_closed: bool = False
    """Whether the application closed the connection since the target's last SYN."""

    @property
    def held(self) -> bool:
        """Whether the application holds the connection (see the module's invariants)."""
        return self.accepted and not self.app_closed

    def concrete(self, letter: str) -> Segment:
        """The segment ``letter`` stands for now; what it occupies of sequence space is counted."""
        flags = INPUTS[letter]
        k = self.key
        syn = bool(flags & Flags.SYN)
        seq = TESTER_ISN if syn else self.snd_nxt
        ack = self.rcv_nxt if flags & Flags.ACK and self.rcv_nxt is not None else 0
        payload = DATA if letter == "ACK+DATA" else b""
        seg = Segment(k.src, k.dst, k.sport, k.dport, seq=seq, ack=ack, flags=flags,
                      window=0 if flags & Flags.RST else WINDOW, payload=payload)
        end = seqnum.add(seq, len(payload) + syn + bool(flags & Flags.FIN))
        if seqnum.gt(end, self.snd_nxt):
            self.snd_nxt = end
        if flags & Flags.ACK and not flags & (Flags.RST | Flags.SYN) and self.rcv_nxt is not None:
            self.accepted = True
        if flags & Flags.ACK and self.rcv_nxt is not None:
            self.acked = ack
        return seg

    def acknowledgment(self) -> Segment | None:
        """The ACK of what the target sent and the tester has not acknowledged yet (None: nothing):
        how an application letter's data or FIN is acknowledged at once, as a peer's TCP does, so no
        retransmission of it can fall into a later answer and unacknowledged data never piles up."""
        if self.rcv_nxt is None or self.acked is None or self.rcv_nxt == self.acked:
            return None
        return self.concrete("ACK")

    def closed(self) -> None:
        """The application's ``close`` succeeded: it holds the connection no more."""
        self.app_closed = True

    def abstract(self, got: list[Segment]) -> str:
        """The output for what the target sent after one input (in arrival order)."""
        out: list[str] = []
        for seg in got:
            if seg.flags & Flags.SYN:
                self.rcv_nxt = seqnum.add(seg.seq, 1)
                self.accepted = self.app_closed = False  # a connection anew: its handshake is to come
            elif self.rcv_nxt is not None:
                end = seqnum.add(seg.seq, len(seg.payload) + bool(seg.flags & Flags.FIN))
                if seqnum.gt(end, self.rcv_nxt):
                    self.rcv_nxt = end
            said = describe(seg, self.snd_nxt)
            if out and out[-1] in ("A(ack)", "A(ack?)") and said.endswith(out[-1][1:]) and said != out[-1]:
                out.pop()  # a bare ACK then data acknowledging as much: the same answer as the data alone
            out.append(said)
        return "+".join(out) if out else QUIET


def describe(seg: Segment, snd_nxt: int) -> str:
    """A target's segment as an output letter: its flags, and ``ack`` when it acknowledges all the
    tester sent (``ack?`` when it acknowledges something else)."""
    flags = "".join(name for bit, name in _NAMES if seg.flags & bit) or "none"
    if seg.payload:
        flags += "(data)"
    if seg.flags & Flags.ACK:
        flags += "(ack)" if seg.ack == snd_nxt else "(ack?)"
    return flags
