"""What one connection of the reference responder settled with its peer's SYN beyond the MSS: window
scaling (RFC 7323 2), timestamps and PAWS (RFC 7323 3-5) and ECN setup (RFC 3168 6.1.1).

Every option is answered, never offered unasked: the SYN-ACK carries a Window Scale option only when
the SYN did, a Timestamps option only when the SYN did, ECE only when the SYN was an ECN-setup SYN
(ECE and CWR).  So a peer offering none of them (the seed cases) sees exactly the exchange of a
responder without them.  SACK-permitted, answered the same way, and the SACK blocks it permits
are :mod:`.sack`'s.

Invariants kept here, each a MUST of RFC 7323:

- a SYN's window field is never scaled, in either direction (2.2): :meth:`Negotiation.peer_window`
  reads a SYN's as it is and :meth:`Negotiation.window_field` writes a SYN's unscaled, capped at
  65535;
- a peer shift above 14 is taken as 14, and the fact is logged (2.3);
- once timestamps are on, every segment but a RST carries them (3.2), TSecr echoing TS.Recent: the
  TSval of the latest segment at or before the left edge of the window last acknowledged (4.3), so
  a delayed ACK echoes the earliest unacknowledged segment and an ACK of out-of-order data the one
  that last advanced RCV.NXT;
- PAWS (5.3): a segment other than a RST with a TSval older than TS.Recent is acknowledged and
  dropped.

A segment arriving without timestamps after they were negotiated is accepted, as Linux does: RFC
7323 3.2 says SHOULD drop, MUST NOT abort, and a reference that dropped them would punish the
tester's own bare segments (its cleanup, a service's ACKs).

The TSval clock ticks once a millisecond (Linux's rate; RFC 7323 5.4 asks for 1 ms to 1 s), read
from the ``now`` the connection is given: nothing here reads a clock.  It starts at the same value
on every connection, as Linux's per-connection offset makes its clocks unrelated across
connections, so a connection's exchange does not depend on when it began.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tcpconform.responder.config import WINDOW_FIELD_MAX, ResponderConfig
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, Option, Segment

MAX_SHIFT = 14
"""RFC 7323 2.3: the largest window scale shift; a larger one received is used as 14."""

TS_OPTION_BYTES = 12
"""A Timestamps option with its two NOPs: what each segment's data gives up for it (RFC 6691)."""

TS_HZ = 1000
"""The TSval clock's rate: one tick a millisecond."""

TS_ORIGIN = 0x10000000
"""The TSval when the connection's SYN arrived: far from 0, so a TSecr of 0 (never echoed) cannot pass for an echo."""

_NOP: Option = ("NOP", None)


def _syn_option(syn: Segment, kind: str) -> tuple[bool, object]:
    """Whether the SYN carries option ``kind``, and its value (the first of its kind counts)."""
    for name, value in syn.options:
        if name == kind:
            return True, value
    return False, None


@dataclass(slots=True)
class Negotiation:
    """The options a SYN settled, and the timestamp state they bring (RFC 7323 4.3's TS.Recent)."""

    cfg: ResponderConfig
    ws_offered: bool
    """The SYN carried a Window Scale option: only then does the SYN-ACK carry one (2.2)."""
    ws: bool
    """Window scaling is in effect (both SYNs carried the option)."""
    snd_shift: int
    """The peer's shift, applied to every window it sends but a SYN's (0 without scaling)."""
    rcv_shift: int
    """The responder's own shift, applied to every window it sends but a SYN's (0 without scaling)."""
    ts: bool
    """Timestamps are in effect: the SYN-ACK carries them, and every later segment but a RST."""
    ecn: bool
    """The SYN-ACK is an ECN-setup SYN-ACK: ECE set, CWR clear."""
    ts_recent: int = 0
    """TS.Recent: the TSval echoed in every TSecr."""
    latest_tsval: int = 0
    """The TSval of the segment received last, whatever it was (what ``ts-echo-wrong`` echoes)."""
    last_ack_sent: int = 0
    """Last.ACK.sent: the acknowledgment the responder sent last (RFC 7323 4.3)."""
    now: float = 0.0
    """The time the connection was last given: the TSval clock's reading."""
    born: float = 0.0
    """When the SYN arrived: the TSval clock's zero."""
    log: list[str] = field(default_factory=list)
    """What was taken otherwise than the peer sent it (a shift above 14), for whoever inspects."""

    @classmethod
    def of(cls, syn: Segment | None, cfg: ResponderConfig, now: float) -> Negotiation:
        """What the responder answers to ``syn``, with the faults of ``cfg`` that bend it; for an active
        open (``syn`` None) nothing: its SYN offers only an MSS, so no option is ever in effect."""
        if syn is None:
            return cls(cfg=cfg, ws_offered=False, ws=False, snd_shift=0, rcv_shift=0, ts=False, ecn=False,
                       now=now, born=now)
        has = cfg.has
        ws_offered, shift = _syn_option(syn, "WScale")
        ws = ws_offered and cfg.window_scale is not None
        log: list[str] = []
        peer_shift = shift if isinstance(shift, int) else 0
        if ws and peer_shift > MAX_SHIFT:
            taken = 0 if has("ws-big-shift-as-zero") else MAX_SHIFT
            log.append(f"the peer's window scale shift {peer_shift} is above {MAX_SHIFT}: taken as {taken} "
                       "(RFC 7323 2.3 says 14)")
            peer_shift = taken
        ts_offered, tsopt = _syn_option(syn, "Timestamp")
        ts = (ts_offered and cfg.timestamps) or has("ts-unoffered")
        tsval = tsopt[0] if ts_offered and isinstance(tsopt, tuple) and len(tsopt) == 2 else 0
        ecn_setup = bool(syn.flags & Flags.ECE) and bool(syn.flags & Flags.CWR)
        return cls(
            cfg=cfg, ws_offered=ws_offered, ws=ws,
            snd_shift=0 if not ws or has("ws-unscaled") else peer_shift,
            rcv_shift=(cfg.window_scale or 0) if ws else 0,
            ts=ts, ecn=(ecn_setup and cfg.ecn) or has("ecn-unrequested"),
            ts_recent=tsval, latest_tsval=tsval, now=now, born=now, log=log,
        )

    # -- windows (RFC 7323 2) ----------------------------------------------------------------------
    @property
    def max_window(self) -> int:
        """The widest window the responder can advertise: the 16-bit field, shifted."""
        return WINDOW_FIELD_MAX << self.rcv_shift

    def peer_window(self, seg: Segment, field_value: int | None = None) -> int:
        """The peer's window in octets: a SYN's as it is, any other's scaled by the peer's shift;
        ``field_value`` is the window field as read (by default ``seg.window``)."""
        window = seg.window if field_value is None else field_value
        return window if seg.flags & Flags.SYN else window << self.snd_shift

    def window_field(self, window: int, flags: Flags) -> int:
        """The header field for a window of ``window`` octets: a SYN's unscaled, any other's shifted
        right (rounded down, so the window announced is never more than the buffer holds)."""
        if flags & Flags.SYN:
            return min(window, WINDOW_FIELD_MAX)
        return min(window >> self.rcv_shift, WINDOW_FIELD_MAX)

    def announced(self, field_value: int, flags: Flags) -> int:
        """The window in octets that the field ``field_value`` announces."""
        return field_value if flags & Flags.SYN else field_value << self.rcv_shift

    def advertise(self, window: int, rcv_nxt: int, flags: Flags) -> tuple[int, int]:
        """The window field for a receive window of ``window`` octets, and the right edge it announces."""
        field_value = self.window_field(window, flags)
        return field_value, seqnum.add(rcv_nxt, self.announced(field_value, flags))

    # -- the options of a segment sent --------------------------------------------------------------
    @property
    def option_bytes(self) -> int:
        """Option bytes every data segment carries, which its data gives up (RFC 9293 3.7.1, RFC 6691)."""
        return TS_OPTION_BYTES if self.ts else 0

    def tsval(self) -> int:
        return (TS_ORIGIN + round((self.now - self.born) * TS_HZ)) & seqnum.MASK

    def options(self, flags: Flags, ack: int, payload: bytes, mss: int | None) -> tuple[Option, ...]:
        """The options of a segment the responder sends, with ``ack`` its acknowledgment: a SYN's MSS
        (``mss``, when there is one), timestamps once on, a SYN's Window Scale."""
        if flags & Flags.RST:
            return ()
        if flags & Flags.ACK:
            self.last_ack_sent = ack
        out: list[Option] = [("MSS", mss)] if flags & Flags.SYN and mss else []
        bare = not payload and not flags & (Flags.SYN | Flags.FIN)
        if self.ts and not (bare and self.cfg.has("ts-missing")):
            echo = self.latest_tsval if self.cfg.has("ts-echo-wrong") else self.ts_recent
            out += [_NOP, _NOP, ("Timestamp", (self.tsval(), echo if flags & Flags.ACK else 0))]
        if flags & Flags.SYN and (self.ws or (self.cfg.has("ws-unoffered") and not self.ws_offered)):
            out += [_NOP, ("WScale", self.rcv_shift)]
        return tuple(out)

    def ecn_flags(self, flags: Flags) -> Flags:
        """The ECN flags a segment with ``flags`` gains: on the SYN-ACK, ECE for an ECN-setup SYN (RFC
        3168 6.1.1), and under the fault ``ecn-reflect`` the SYN's ECE and CWR echoed back as they came."""
        if not flags & Flags.SYN:
            return Flags.NONE
        if self.cfg.has("ecn-reflect"):
            return Flags.ECE | Flags.CWR
        return Flags.ECE if self.ecn else Flags.NONE

    # -- timestamps received (RFC 7323 4.3, 5.3) ----------------------------------------------------
    def admits(self, seg: Segment, acceptable: bool) -> bool:
        """Whether ``seg`` is acceptable: by the sequence number test (``acceptable``) and PAWS; if it
        is, its TSval is taken as RFC 7323 4.3 says, before the ACK it may draw."""
        if self.paws_rejects(seg) or not acceptable:
            return False
        self.received(seg)
        return True

    def paws_rejects(self, seg: Segment) -> bool:
        """RFC 7323 5.3 R1: timestamps are on, ``seg`` is no RST and its TSval is older than TS.Recent."""
        if not self.ts or seg.flags & Flags.RST or self.cfg.has("no-paws"):
            return False
        tsopt = seg.option("Timestamp")
        if not isinstance(tsopt, tuple) or len(tsopt) != 2:
            return False
        return seqnum.lt(tsopt[0], self.ts_recent)

    def received(self, seg: Segment) -> None:
        """RFC 7323 4.3 (2): an acceptable segment's TSval becomes TS.Recent if it is not older and the
        segment starts at or before Last.ACK.sent."""
        tsopt = seg.option("Timestamp")
        if not self.ts or not isinstance(tsopt, tuple) or len(tsopt) != 2:
            return
        self.latest_tsval = tsopt[0]
        if seqnum.le(self.ts_recent, tsopt[0]) and seqnum.le(seg.seq, self.last_ack_sent):
            self.ts_recent = tsopt[0]
