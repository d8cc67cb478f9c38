"""How a case ends on the wire: the cleanup RSTs that leave the target no connection, how long their
answer is waited for, and when the tester's own lateness makes a failure untrustworthy.

Only a RST at the target's RCV.NXT resets a synchronized connection for sure (RFC 5961 3.2), and a RST
is never answered (RFC 9293 3.10.7): the cleanup both tidies up and checks that rule.
"""

from __future__ import annotations

from tcpconform.cases.model import Level, Requirement
from tcpconform.engine.connection import TesterConnection
from tcpconform.tcp.segment import Flags, FourTuple, Segment


def cleanup_seqs(conn: TesterConnection) -> list[int]:
    """Where the cleanup RSTs go: the end of what the tester sent and, when the target's last ACK
    says it took less, that ACK too.  Only a RST at the target's RCV.NXT resets a synchronized
    connection for sure (RFC 5961 3.2: any other in-window RST draws a challenge ACK); the target's
    RCV.NXT is the tester's SND.NXT when it took everything, and its last ACK when it dropped the
    end (a segment without ACK, a FIN it did not take), so one of the two is exact.
    """
    seqs = [conn.snd_nxt]
    if conn.last_ack is not None and conn.last_ack != conn.snd_nxt:
        seqs.append(conn.last_ack)
    return seqs


def cleanup_rst(key: FourTuple, seq: int, ack: int | None = None) -> Segment:
    """A cleanup RST at ``seq``; with ``ack`` (the tester's RCV.NXT), a RST+ACK acknowledging it."""
    if ack is None:
        return Segment(key.src, key.dst, key.sport, key.dport, seq=seq, flags=Flags.RST)
    return Segment(key.src, key.dst, key.sport, key.dport, seq=seq, ack=ack, flags=Flags.RST | Flags.ACK)


CLEANUP_WITH_ACK = "cleanup: the same RST with an ACK, for a stack that takes only that (not judged)"
"""Why the last cleanup segment is a RST+ACK.  In a synchronized state RFC 9293 3.10.7.4 judges a
RST by its sequence number alone, and in SYN-SENT only an acceptable ACK makes it count (3.10.7.3);
some stacks act only on a RST that carries an acceptable ACK (PyTCP keeps an ESTABLISHED connection
after a bare one, and every connection it keeps slows its timer for the rest of the run).  The bare
RSTs go first and are the ones judged: a stack that answers a RST+ACK answers it with a bare RST at
the ACK's number, which a RST answering the case's last segment would look like too."""


LATE_LIMIT = 0.1
"""How late (seconds) the tester may hand a case a segment or a timeout before a failure of that
case is no longer trusted: far beyond the few milliseconds a run takes to react, far below the
target's timers (200 ms delayed ACK, 1 s minimum RTO) that a late tester would let fire."""

CLEANUP_WINDOW = 0.05
"""How long (seconds) the target's answer to the cleanup RST is waited for: a round trip on a wire
and then some; a stack that answers a RST does so at once."""

RST_NEVER_ANSWERED = Requirement(
    "rst-never-answered", "RFC 9293 3.10.7", Level.MUST,
    "A RST is never answered with a RST: with no connection an incoming RST is discarded (3.10.7.1), "
    "in LISTEN ignored (3.10.7.2), in a synchronized state it resets the connection or, out of the "
    "window, is dropped (3.10.7.4); none of these sends anything.",
)
"""What the target's answer to the tester's cleanup RST is judged against (the event processing of
RFC 9293 3.10.7, which carries no MUST-n label of its own)."""
