"""The reference responder's handling of ICMP errors about its connections (RFC 9293 3.9.2.2, RFC 5927).

- The error names its connection by the quoted segment, which must be one of the responder's own.
- Its quoted sequence number must lie in SND.UNA..SND.NXT, strictly below SND.NXT (RFC 5927 4.1, as
  FreeBSD checks it): a blind attacker cannot know it.  An error failing that is ignored.
- Source quench is ignored (MUST-55, RFC 6633).
- Frag-needed / packet-too-big lowers the path MSS to the MTU (at least 68 over IPv4, RFC 791) less
  the headers, never raising it, and the data in flight that no longer fits is sent again at once,
  cut to it (RFC 1191, RFC 8201).  One below IPv6's minimum MTU, 1280, is ignored (RFC 8201 4).
  Not in SYN_RCVD: the SYN-ACK is small, and it is not data to cut (Linux ignores it there too).
- Soft errors never abort (MUST-56): net and host unreachable, source route failed, time exceeded,
  parameter problem.  The reference only notes nothing of them (its application has no error to read).
- Hard errors (protocol and port unreachable) abort a connection being opened (SHLD-26): an active
  open in SYN_SENT is refused, as Linux's connect() fails with ECONNREFUSED; a passive open still in
  SYN_RCVD goes back to listening (as Linux drops its request).  Once synchronized they are soft
  (RFC 5927 5.2, Linux without IP_RECVERR): a connection that has carried data is not ended by an
  error anyone who can guess its sequence numbers could forge.  Frag-needed (code 4), which RFC
  9293 lists among the hard codes, is path MTU discovery's (RFC 1191), never an abort.

Faults: ``pmtu-ignored`` (no path MTU discovery: lwIP and many small stacks), ``soft-error-aborts``
(every error fatal, as stacks the ICMP "nuke" tools of the 1990s broke), ``source-quench-slows``
(BSD's cwnd of one segment until RFC 6633), ``icmp-blind-accepted`` (no sequence check: RFC 5927's
blind attacks), ``icmp-hard-ignored`` (no ICMP reaches TCP at all: lwIP, uIP).
"""

from __future__ import annotations

from tcpconform.responder.connection import Connection
from tcpconform.tcp import seqnum
from tcpconform.tcp.icmp import HEADERS, PMTU_FLOOR_V6, IcmpError
from tcpconform.tcp.states import State

__all__ = ["MIN_MTU_V4", "on_icmp"]

MIN_MTU_V4 = 68
"""The smallest MTU IPv4 allows (RFC 791): the reference's floor for a frag-needed."""


_ABORTED_BY_FAULT = (State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2, State.CLOSE_WAIT, State.CLOSING,
                     State.LAST_ACK)
"""Where ``soft-error-aborts`` ends a connection (TIME_WAIT has nothing left to abort)."""

_OPENING = (State.SYN_SENT, State.SYN_RCVD)
"""Where a hard error ends the connection (SHLD-26): nothing was exchanged yet that aborting would lose."""


def _in_window(conn: Connection, seq: int) -> bool:
    return seqnum.le(conn.snd_una, seq) and seqnum.lt(seq, conn.snd_nxt)


def on_icmp(conn: Connection, msg: IcmpError, now: float) -> None:
    """Act on ``msg``, an error about a segment of ``conn``'s, as the module docstring says."""
    has = conn.cfg.has
    if not has("icmp-blind-accepted") and not _in_window(conn, msg.quoted.seq):
        return
    effect = msg.effect
    if effect == "quench":
        if has("source-quench-slows"):
            conn.path.window = conn.path.mss or min(conn.peer_mss, conn.cfg.own_mss)
        return
    if effect == "pmtu":
        floor = PMTU_FLOOR_V6 if msg.ipv6 else MIN_MTU_V4
        if has("pmtu-ignored") or msg.mtu < floor or conn.state is State.SYN_RCVD:
            return
        mss = msg.mtu - HEADERS[msg.ipv6]
        current = conn.path.mss or min(conn.peer_mss, conn.cfg.own_mss)
        if mss < current:
            conn.path_mss_lowered(mss, now)
        return
    hard_in_open = conn.state in _OPENING and effect == "hard" and not has("icmp-hard-ignored")
    if hard_in_open or (conn.state in _ABORTED_BY_FAULT and has("soft-error-aborts")):
        conn.icmp_abort(now)
