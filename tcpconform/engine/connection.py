"""Per-connection bookkeeping of the engine: numbering, what each side has sent, captured values.

A case writes sequence numbers in its own numbering (relative by default); the wire carries
absolute ones.  :class:`TesterConnection` owns both ISNs and translates in each direction, so matching and
sending code never does sequence arithmetic of its own.  Everything is modulo 2^32.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tcpconform.cases.model import ANY, AnyValue, Capture, FieldSpec, Numbering, Range, Var
from tcpconform.engine.outcome import CaseError
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, FourTuple, Segment


@dataclass
class TesterConnection:
    """The tester's view of one test connection."""

    key: FourTuple
    """Tester to target."""
    numbering: Numbering
    tester_isn: int
    profile_values: dict[str, FieldSpec]
    mss_offered: int = 536
    sack_offered: bool = False
    """The tester's SYN carried SACK-permitted: only then may the target send SACK blocks (RFC 2018 4)."""
    ws_offered: int | None = None
    """The shift of the tester's SYN's Window Scale option; ``None``: it carried none."""
    ts_offered: bool = False
    """The tester's SYN carried a Timestamps option."""
    ecn_offered: bool = False
    """The tester's SYN was an ECN-setup SYN (ECE and CWR, RFC 3168 6.1.1)."""
    sack_seen: bool = False
    """A segment from the target carried a SACK option: it elected to send SACK blocks (RFC 2018 4)."""
    target_syn: Segment | None = None
    """The target's first SYN: what it answered to the tester's offers (:mod:`.negotiation`)."""
    target_isn: int | None = None
    latest_isn: int | None = None
    """The ISN of the target's latest SYN: where the data of the connection it opened is numbered
    from (another than ``target_isn`` once the case opened the 4-tuple again after a reset)."""
    snd_nxt: int = 0
    """Next tester sequence number (wire), i.e. the end of everything sent so far."""
    our_right_edge: int | None = None
    """Highest ack + window the tester has advertised (wire): the target may not send past it."""
    rcv_nxt: int | None = None
    """Next in-order target sequence number (wire)."""
    target_high: int | None = None
    """End of the highest target sequence space seen (wire)."""
    last_ack: int | None = None
    last_window: int | None = None
    target_right_edge: int | None = None
    """Highest ack + window (wire, in octets, scaled) the target advertised since its last SYN, RSTs
    left out, in the order its segments arrived: what the ``no-window-shrink`` invariant holds it to."""
    edge_shift: int = 0
    """The shift of the target's windows, taken from its SYN as it arrived (its Window Scale, when the
    tester's SYN offered one; RFC 7323 2.3 caps it at 14)."""
    window_shrinks: dict[Segment, int] = field(default_factory=dict)
    """The target's segments that moved that edge left when they arrived, with the edge before them."""
    captured: dict[str, int] = field(default_factory=dict)
    app_read: int = 0
    """Bytes the target's application has read so far."""
    app_written: int = 0
    """Bytes the target's application has been asked to write so far."""
    tester_fin: int | None = None
    """Sequence number (wire) of the tester's FIN, once it sent one with the ACK bit: only such a
    FIN reaches a conformant target's application (one without ACK is dropped, RFC 9293 3.10.7.4,
    fifth check), so only it lets a service close "after the peer's FIN"."""
    service_sent: int = 0
    """Sequence space a service used by itself: its own data and FIN that the engine accepted as
    the service's rather than matched them to a step.  The case's written target numbers count
    past it (relative numbering), so a ``101`` written for an application that sent nothing is the
    target's next number after whatever the service legitimately sent."""
    driven: int = 0
    """Sequence space the tester sent for an echo to write (an ``app write`` the echo plays): the
    case's written tester numbers count past it, as its target numbers count past ``service_sent``,
    so a ``1`` written for an application that wrote on its own is the tester's next number still."""
    driven_ranges: list[tuple[int, int]] = field(default_factory=list)
    """Those bytes, as offsets of the tester's stream: an echo sends them back at the same offsets
    of its own, as the case's application data, never as the service's."""
    hold: bool = False
    """The tester keeps its window closed so an echo holds a byte it cannot send back, and so
    CLOSE_WAIT lasts (:func:`~tcpconform.engine.services.hold_byte`); ended by the case's ``app close``."""
    hold_at_fin: bool = False
    """The window closes only with that byte, just before the tester's FIN: the case expects the
    echo's data before it (a window shrunk so is one a sender must cope with, RFC 9293 MUST-34)."""
    held: bool = False
    """That byte was sent (before the tester's FIN)."""
    tester_window: int | None = None
    """The window the tester last advertised (what data it sends by itself carries)."""
    target_mss: int | None = None
    """The MSS option of the target's SYN, if it sent one."""
    service_data_end: int | None = None
    """End (wire) of the data the service sent by itself, as far as seen."""
    acked_service: int | None = None
    """How far the tester acknowledged that data by itself (:func:`~tcpconform.engine.services.owed_ack`)."""
    service_fin: Segment | None = None
    """The service's FIN, once it was taken as the service's: a later step expecting the target's
    FIN (an ``app close`` the service played by itself, earlier) is answered by it."""
    service_closed: bool = False
    """The service closed by itself (its FIN was accepted as the service's): the connection has
    moved on from the state the case drove it into (CLOSE_WAIT -> LAST_ACK)."""

    def __post_init__(self) -> None:
        self.snd_nxt = self.tester_isn

    # -- numbering -------------------------------------------------------------------------------
    def tester_wire(self, written: int) -> int:
        if self.numbering.absolute:
            return written & seqnum.MASK
        return (written - self.numbering.tester + self.tester_isn + self.driven) & seqnum.MASK

    def target_wire(self, written: int) -> int:
        if self.numbering.absolute:
            return written & seqnum.MASK
        if self.target_isn is None:
            raise CaseError("a target sequence number is used before the target's SYN was seen")
        return (written - self.numbering.target + self.target_isn + self.service_sent) & seqnum.MASK

    def tester_written(self, wire: int) -> int:
        if self.numbering.absolute:
            return wire
        return (wire - self.tester_isn - self.driven + self.numbering.tester) & seqnum.MASK

    def target_written(self, wire: int) -> int:
        if self.numbering.absolute or self.target_isn is None:
            return wire
        return (wire - self.target_isn - self.service_sent + self.numbering.target) & seqnum.MASK

    @property
    def target_base(self) -> int | None:
        """Subtract from a target wire number to get its written form (``None``: absolute)."""
        if self.numbering.absolute or self.target_isn is None:
            return None
        return (self.target_isn + self.service_sent - self.numbering.target) & seqnum.MASK

    @property
    def tester_base(self) -> int | None:
        if self.numbering.absolute:
            return None
        return (self.tester_isn + self.driven - self.numbering.tester) & seqnum.MASK

    def summary_in(self, seg: Segment) -> str:
        return seg.summary(self.target_base, self.tester_base)

    def summary_out(self, seg: Segment) -> str:
        return seg.summary(self.tester_base, self.target_base)

    # -- values ----------------------------------------------------------------------------------
    def lookup(self, name: str) -> int | AnyValue:
        if name in self.captured:
            return self.captured[name]
        if name in self.profile_values:
            value = self.profile_values[name]
            if isinstance(value, int) or value is ANY:
                return value
        raise CaseError(f"${name} is not bound: capture it first (?{name}) or use a profile that sets it")

    def resolve(self, spec: FieldSpec) -> int | None:
        """The concrete value of a spec, or ``None`` when it is open (``*``, a range, a capture)."""
        if isinstance(spec, int):
            return spec
        if isinstance(spec, Var):
            value = self.lookup(spec.name)
            return None if value is ANY else int(value) + spec.offset  # type: ignore[arg-type]
        return None

    def resolve_send(self, spec: FieldSpec, what: str) -> int:
        value = self.resolve(spec)
        if value is None:
            raise CaseError(f"{what}: {spec} has no value to send")
        return value

    # -- negotiation -----------------------------------------------------------------------------
    def note_offers(self, syn: Segment) -> None:
        """The tester sent ``syn``: what it offers (a later SYN, as a retransmission, offers anew)."""
        shift = syn.option("WScale")
        self.ws_offered = shift if isinstance(shift, int) else None
        self.ts_offered = any(kind == "Timestamp" for kind, _ in syn.options)
        self.ecn_offered = bool(syn.flags & Flags.ECE) and bool(syn.flags & Flags.CWR)

    @property
    def ws_negotiated(self) -> bool:
        """Window scaling is on: the tester's SYN and the target's carried a Window Scale option."""
        return self.ws_offered is not None and self.target_syn is not None and self.target_syn.option("WScale") is not None

    @property
    def ts_negotiated(self) -> bool:
        """Timestamps are on: the tester's SYN and the target's carried them (RFC 7323 3.2)."""
        return self.ts_offered and self.target_syn is not None and self.target_syn.option("Timestamp") is not None

    def target_edge(self, seg: Segment) -> int | None:
        """The right edge of the window ``seg`` offers (ack + scaled window); None for a SYN, a RST, or no ACK."""
        if seg.flags & (Flags.SYN | Flags.RST) or not seg.flags & Flags.ACK:
            return None
        return seqnum.add(seg.ack, seg.window << self.edge_shift)

    def watch_edge(self, seg: Segment) -> None:
        """A segment of the target's on this connection, in the order it arrived (steps may judge the
        segments of a burst in another order): note whether it moved the right edge of its window left."""
        if seg.flags & Flags.SYN:  # a new connection (or its SYN again): its window starts anew
            shift = seg.option("WScale")
            self.edge_shift = min(shift, 14) if isinstance(shift, int) and self.ws_offered is not None else 0
            self.target_right_edge = None
            return
        edge, before = self.target_edge(seg), self.target_right_edge
        if edge is None:
            return
        if before is not None and seqnum.lt(edge, before):
            self.window_shrinks[seg] = before
        else:
            self.target_right_edge = edge

    @property
    def tester_shift(self) -> int:
        """What the target must shift the tester's windows by: its offer, 14 at most (RFC 7323 2.3)."""
        return min(self.ws_offered or 0, 14) if self.ws_negotiated else 0

    # -- what the tester sent / saw --------------------------------------------------------------
    def note_sent(self, seg: Segment) -> None:
        if seg.flags & Flags.FIN and seg.flags & Flags.ACK and not seg.flags & Flags.RST:
            self.tester_fin = seqnum.add(seg.seq, len(seg.payload) + (1 if seg.flags & Flags.SYN else 0))
        end = seqnum.add(seg.seq, seg.seg_len)
        if seqnum.gt(end, self.snd_nxt):
            self.snd_nxt = end
        if seg.flags & Flags.ACK and not seg.flags & Flags.RST:
            self.tester_window = seg.window
            window = seg.window if seg.flags & Flags.SYN else seg.window << self.tester_shift
            edge = seqnum.add(seg.ack, window)
            if self.our_right_edge is None or seqnum.gt(edge, self.our_right_edge):
                self.our_right_edge = edge

    def note_received(self, seg: Segment) -> None:
        if seg.flags & Flags.SYN and self.target_isn is None:
            self.target_isn = seg.seq
        if seg.flags & Flags.SYN:
            self.latest_isn = seg.seq
        if seg.flags & Flags.SYN and self.target_syn is None:
            self.target_syn = seg
        if seg.flags & Flags.SYN and seg.seq == self.target_isn:
            mss = seg.option("MSS")
            self.target_mss = mss if isinstance(mss, int) else None
        end = seqnum.add(seg.seq, seg.seg_len)
        if seg.seg_len:
            if self.target_high is None or seqnum.gt(end, self.target_high):
                self.target_high = end
            if self.rcv_nxt is None:
                self.rcv_nxt = end if seg.flags & Flags.SYN else None
            elif seqnum.le(seg.seq, self.rcv_nxt) and seqnum.gt(end, self.rcv_nxt):
                self.rcv_nxt = end
        if seg.flags & Flags.ACK:
            self.last_ack = seg.ack
            self.last_window = seg.window
        self.sack_seen = self.sack_seen or seg.option("SAck") is not None


def describe_spec(spec: FieldSpec | None, conn: TesterConnection) -> str:
    """A spec as the report shows it: the resolved number, with the name it came from."""
    if spec is None:
        return "-"
    if isinstance(spec, Var):
        try:
            value = conn.resolve(spec)
        except CaseError:
            value = None
        return f"{value} ({spec})" if value is not None else f"{spec} (open)"
    if isinstance(spec, Range):
        return f"{spec.lo}..{spec.hi}"
    if isinstance(spec, Capture):
        return f"any ({spec})"
    if spec is ANY:
        return "*"
    return str(spec)
