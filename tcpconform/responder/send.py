"""The send side of a reference-responder connection: what goes out, and when.

:class:`SendSide` is a mixin of :class:`~.connection.Connection`; it builds every segment the
connection sends (:meth:`SendSide._emit`), sends new sequence space and keeps it for retransmission,
sends what the peer's window, its MSS, the path (:mod:`.path`) and Nagle (:mod:`.sockopts`) allow,
times the ACKs (delayed ACK) and runs the retransmission and persist timers (giving up at R2, by
time: :mod:`.giveup`).  The checks on arriving segments (RFC 9293 3.10.7.4) stay in
:mod:`.connection`, in their order.

Invariants: the retransmission queue holds, in sequence order, exactly the sent sequence space from
SND.UNA to SND.NXT (SYN, text and FIN as first sent, or cut to a lowered path MSS); the
retransmission timer is armed only while that queue's head is retransmitted; the persist timer only
while data waits behind a zero window with nothing in flight; every ACK-bearing segment acknowledges
all received so far, so it ends any delayed ACK; the right edge of the advertised window never moves
back.  Like the connection, this reads no clock: ``now`` is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from tcpconform.responder.active import syn_backs_off, syn_mss, syn_retransmits
from tcpconform.responder.coalesce import WriteQueue
from tcpconform.responder.config import IGNORE_MSS_SEGMENT, IGNORE_MSS_SEGMENT6, MAX_RTO, SLOW_ACK_DELAY, ResponderConfig
from tcpconform.responder.congestion import Congestion
from tcpconform.responder.ecn import EcnState
from tcpconform.responder.giveup import gives_up, persist_gives_up, r2, retransmission_at
from tcpconform.responder.negotiate import Negotiation
from tcpconform.responder.path import PathState, cut
from tcpconform.responder.receive import ReceiveBuffer
from tcpconform.responder.rtt import RttEstimator
from tcpconform.responder.sack import SackState
from tcpconform.responder.shrink import receive_window, usable_window
from tcpconform.responder.sockopts import SocketOptions, nagle_holds
from tcpconform.responder.states import Trigger
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, FourTuple, Segment, is_ipv6
from tcpconform.tcp.states import State

ACK_UNRECEIVED_EXTRA = 100
"""How far beyond RCV.NXT the ``ack-unreceived`` fault acknowledges."""

SWS_OVERRIDE = 0.2
"""The override timeout of sender SWS avoidance (RFC 9293 3.8.6.2.1: "in the range 0.1 - 1.0 seconds")."""

CAN_SEND = (State.ESTABLISHED, State.CLOSE_WAIT, State.FIN_WAIT_1, State.LAST_ACK)
"""States in which queued data (and then the FIN) may still go out."""


@dataclass(frozen=True, slots=True)
class Sent:
    """A segment on the retransmission queue: resent with the same sequence number, flags and text."""

    seq: int
    flags: Flags
    payload: bytes

    @property
    def end(self) -> int:
        return seqnum.add(self.seq, len(self.payload) + (1 if self.flags & (Flags.SYN | Flags.FIN) else 0))


class SendSide:
    """The send half of a connection's TCB and its timers; the class using it sets the attributes
    declared first (the TCB it shares with the receive side) and provides :meth:`_move`."""

    # Set by the connection (RFC 9293 3.3.1's TCB, shared with the receive side).
    key: FourTuple
    cfg: ResponderConfig
    _outbox: list[Segment]
    state: State
    neg: Negotiation
    ecn: EcnState
    sack: SackState
    active: bool
    options: SocketOptions
    path: PathState
    iss: int
    snd_una: int
    snd_nxt: int
    snd_wnd: int
    max_snd_wnd: int
    peer_mss: int
    send_queue: bytearray
    writes: WriteQueue
    fin_wanted: bool
    fin_seq: int | None
    rcv: ReceiveBuffer
    # Owned here, set by _begin_sending.
    _rcv_adv: int
    """Right edge of the window last advertised."""
    _rtx: list[Sent]
    rtt: RttEstimator
    """SRTT, RTTVAR and the RTO (:mod:`.rtt`)."""
    cc: Congestion
    """cwnd, ssthresh and loss recovery (:mod:`.congestion`)."""
    _retries: int
    _r2_from: float
    """When R2 started counting: the head of the queue's first send, or the ACK that restarted the timer."""
    _probes: int
    """Zero-window probes sent since the window closed."""
    _rtx_at: float | None
    _persist_at: float | None
    _persist_interval: float
    _sws_at: float | None
    """When data held back by SWS avoidance may go out anyway (the override timeout); None: nothing held."""
    _snd_sml: int
    """End of the last small segment sent (Nagle, Minshall's variant)."""
    _delack_at: float | None
    _unacked_segs: int
    _unacked_bytes: int

    def _begin_sending(self) -> None:
        """Nothing sent, nothing queued for retransmission, no timer armed (needs ``cfg`` and ``iss``)."""
        self._rtx = []
        self.rtt = RttEstimator.for_config(self.cfg)
        self.cc = Congestion.for_config(self.cfg)
        self._retries = self._probes = 0
        self._r2_from = 0.0
        self._rtx_at = None
        self._persist_at = None
        self._persist_interval = self.cfg.rto
        self._sws_at = None
        self._snd_sml = self.iss
        self._rcv_adv = 0
        self._delack_at = None
        self._unacked_segs = 0
        self._unacked_bytes = 0

    def _move(self, trigger: Trigger, now: float) -> None:
        raise NotImplementedError  # the connection's: a state change, with its event and timers

    def _has(self, fault: str) -> bool:
        return self.cfg.has(fault)

    def _stop_sending(self) -> None:
        self._rtx.clear()
        self._rtx_at = self._persist_at = self._delack_at = self._sws_at = None

    def _send_timers(self) -> tuple[float | None, float | None, float | None]:
        """The delayed-ACK, retransmission and persist timers (None: not armed)."""
        return self._delack_at, self._rtx_at, self._persist_at

    # ----------------------------------------------------------------- emitting

    def _rcv_wnd(self) -> int:
        """RCV.WND: free buffer space, but never pulling the right edge back from what was advertised."""
        promised = seqnum.diff(self._rcv_adv, self.rcv.rcv_nxt)
        return min(self.neg.max_window, receive_window(self.rcv.free, self.rcv.held, promised, self.cfg.faults))

    def _emit(self, flags: Flags, seq: int, payload: bytes = b"") -> Segment:
        ack = 0
        if flags & Flags.ACK:
            ack = self.rcv.rcv_nxt
            if flags & Flags.SYN:
                ack = seqnum.add(ack, 1 if self._has("bad-syn-ack") else 0)
            elif self._has("ack-unreceived"):
                ack = seqnum.add(ack, ACK_UNRECEIVED_EXTRA)
        window, self._rcv_adv = self.neg.advertise(self._rcv_wnd(), self.rcv.rcv_nxt, flags)
        mss = syn_mss(self.cfg.own_mss, self.cfg.mss_option, self.cfg.faults) if self.active else self.cfg.mss_option
        options = self.neg.options(flags, ack, payload, mss) + self.sack.options(flags, payload, self.rcv, self.neg.ts)
        new = bool(payload) and seq == self.snd_nxt  # new data, which ECN marks (RFC 3168 6.1.2, 6.1.5)
        seg = Segment(
            src=self.key.src, dst=self.key.dst, sport=self.key.sport, dport=self.key.dport, seq=seq & seqnum.MASK,
            ack=ack, flags=flags | self.neg.ecn_flags(flags) | self.ecn.flags(flags, new), window=window, options=options,
            payload=payload,
        )
        seg = self.ecn.marked(seg, new, self.cfg.faults)
        self._outbox.append(seg)
        if flags & Flags.ACK:  # every ACK-bearing segment acknowledges all received so far
            self._delack_at = None
            self._unacked_segs = self._unacked_bytes = 0
        return seg

    def send_ack(self) -> None:
        """``<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>``: the reply to an unacceptable segment, and a plain ACK."""
        self._emit(Flags.ACK, self.snd_nxt)

    def _send_rst(self, seq: int) -> None:
        self._outbox.append(Segment(
            src=self.key.src, dst=self.key.dst, sport=self.key.sport, dport=self.key.dport,
            seq=seq & seqnum.MASK, flags=Flags.RST,
        ))

    def _delay_ack(self, nbytes: int, now: float) -> None:
        """RFC 9293 3.8.6.3 / RFC 5681 4.2: hold the ACK, but not past a second segment or 2*MSS bytes."""
        self._unacked_segs += 1
        self._unacked_bytes += nbytes
        if self._has("ack-every-segment"):
            self.send_ack()
        elif self._has("slow-ack"):
            if self._delack_at is None:
                self._delack_at = now + SLOW_ACK_DELAY
        elif self._unacked_segs >= 2 or self._unacked_bytes >= 2 * self.cfg.own_mss:
            self.send_ack()
        elif self._delack_at is None:
            self._delack_at = now + self.cfg.delayed_ack

    # ----------------------------------------------------------------- sending new sequence space

    def _transmit(self, flags: Flags, payload: bytes, now: float) -> None:
        """Send new sequence space (SYN, text, FIN) and keep it for retransmission."""
        sent = Sent(self.snd_nxt, flags, payload)
        self._emit(flags, sent.seq, payload)
        self._rtx.append(sent)
        self.snd_nxt = sent.end
        self.rtt.sent(sent.end, now)
        if self._rtx_at is None and self._retransmits(sent):
            self._rtx_at = now + self.rtt.rto

    def _retransmits(self, sent: Sent) -> bool:
        if sent.flags & Flags.SYN:
            return syn_retransmits(self.cfg.faults) if self.state is State.SYN_SENT else not self._has("synack-no-retransmit")
        return not self._has("no-retransmit")

    def _send_mss(self) -> int:
        if self._has("ignore-mss"):
            return IGNORE_MSS_SEGMENT6 if is_ipv6(self.key.src) else IGNORE_MSS_SEGMENT
        # RFC 9293 3.7.1, RFC 6691: the options (timestamps) come out of the MSS
        return min(self.peer_mss, self.cfg.own_mss, self.path.mss or self.peer_mss) - self.neg.option_bytes

    def _output(self, now: float) -> None:
        """Resend what a timeout left owed (go-back-N), then send what the queue, the peer's window, cwnd
        and the MSS allow (only whole segments when cwnd is what limits); then the FIN if one is wanted."""
        self._go_back(now)
        held_since, self._sws_at = self._sws_at, None
        override = held_since is not None and now >= held_since
        while self.state in CAN_SEND and self.fin_seq is None:
            if self.send_queue:
                in_flight = seqnum.diff(self.snd_nxt, self.snd_una)
                usable = (len(self.send_queue) if self._has("ignore-window")
                          else usable_window(self.snd_wnd, in_flight, len(self.send_queue), self.cfg.faults))
                usable = self.path.limit(usable, in_flight)
                allowed = self.cc.allowance(in_flight, self._send_mss())
                if allowed is not None and allowed < min(len(self.send_queue), self._send_mss()):
                    break  # cwnd has no room for a whole segment: wait for an ACK
                size = self.writes.limit(min(len(self.send_queue), self._send_mss(), usable))
                small = size < min(self._send_mss(), self.max_snd_wnd)  # full-sized: what the peer's largest window takes
                held = small and not self.fin_wanted and seqnum.gt(self._snd_sml, self.snd_una)  # a FIN pushes
                if size <= 0 or (held and nagle_holds(self.options, self.cfg.faults)):
                    break
                if not override and self._sws_holds(size):
                    self._sws_at = held_since if held_since is not None else now + SWS_OVERRIDE
                    break
                payload = bytes(self.send_queue[:size])
                del self.send_queue[:size]
                self.writes.sent(size)
                self._transmit(Flags.ACK | (Flags(0) if self.send_queue else Flags.PSH), payload, now)
                self._snd_sml = self.snd_nxt if small else self._snd_sml
            elif self.fin_wanted:
                # The FIN takes no buffer space at the receiver, so it is sent whatever the window.
                self.fin_seq = self.snd_nxt
                self._transmit(Flags.FIN | Flags.ACK, b"", now)
            else:
                break
        self._update_persist(now)

    def _sws_holds(self, size: int) -> bool:
        """Sender SWS avoidance (RFC 9293 3.8.6.2.1): a segment the window cuts below both the MSS and half the
        largest window the peer offered, with more queued, waits (for the window, or the override timeout)."""
        mss = self._send_mss()
        return (not self._has("sws-sender") and size < len(self.send_queue) and size < mss
                and 2 * size < self.max_snd_wnd)

    def _update_persist(self, now: float) -> None:
        """Arm the persist timer while data waits behind a zero window with nothing in flight, and at the SWS
        override timeout while data waits behind a window too small to use."""
        if self._sws_at is not None:
            self._persist_at = self._sws_at
            return
        waiting = (
            not self._has("no-persist-probe") and self.state in CAN_SEND and bool(self.send_queue) and self.snd_wnd == 0
            and self.snd_una == self.snd_nxt and not self._has("ignore-window")
        )
        if not waiting:
            self._persist_at = None
            self._persist_interval, self._probes = self.cfg.rto, 0
        elif self._persist_at is None:
            self._persist_at = now + self._persist_interval

    # ----------------------------------------------------------------- the retransmission queue

    def _requeue_syn_ack(self) -> None:
        """Simultaneous open: from now on the SYN-ACK (at ISS) is what is resent, not the SYN."""
        self._rtx = [Sent(self.iss, Flags.SYN | Flags.ACK, b"")]

    def _syn_acked(self) -> None:
        """The SYN is acknowledged in SYN_SENT: nothing left to resend, the RTO back to its start."""
        self._rtx, self._rtx_at, self._retries = [], None, 0
        self.rtt.restart()

    def _acked(self, ack: int, now: float) -> None:
        """An ACK advanced SND.UNA to ``ack``: drop what it covers, take the RTT sample if it is one, restart
        the timer with the RTO as it now is (RFC 6298 5.3: backed off until a valid sample, Karn)."""
        acked, data_acked = seqnum.diff(ack, self.snd_una), self.snd_una != self.iss
        self.snd_una = ack
        self._rtx = [s for s in self._rtx if seqnum.gt(s.end, ack)]
        self._retries = 0
        self.rtt.acked(ack, now)
        if data_acked and self.cc.acked(acked, ack, self._send_mss()) and self._rtx:
            self._resend(self._rtx[0], now)  # a partial ACK in fast recovery: the next hole (RFC 6582 3.2)
        self.path.acked(self._send_mss())
        self._rtx_at = now + self.rtt.rto if self._rtx and self._retransmits(self._rtx[0]) else None

    def _resend(self, sent: Sent, now: float) -> None:
        self._emit(sent.flags, sent.seq, sent.payload)
        self.rtt.retransmitted(sent.seq, sent.end, now)

    def _duplicate_ack(self, window: int, now: float) -> None:
        """An ACK of SND.UNA with no data, SYN or FIN (the connection checked that), and ``window`` its window:
        a duplicate ACK if the window is unchanged and data is outstanding (RFC 5681 2); the third resends
        the oldest segment (fast retransmit, 3.2)."""
        if window != self.snd_wnd or self.snd_una == self.snd_nxt or self.state not in CAN_SEND or not self._rtx:
            return
        if self.cc.duplicate(seqnum.diff(self.snd_nxt, self.snd_una), self.snd_nxt, self._send_mss()):
            self._resend(self._rtx[0], now)

    def _go_back(self, now: float) -> None:
        """After a timeout, resend the outstanding segments oldest first, as far as cwnd lets (RFC 5681 3.1)."""
        if self.cc.resend_from is not None:
            picks = self.cc.go_back([(sent.seq, sent.end) for sent in self._rtx], self.snd_una)
            for index in picks:
                self._resend(self._rtx[index], now)

    def path_mss_lowered(self, mss: int, now: float) -> None:
        """A packet-too-big lowered the path MSS (RFC 1191 6.4, RFC 8201 5.4): what no longer fits is sent again
        at once, cut to it (:func:`.path.cut`); so is all that follows."""
        self.path.mss = mss
        queue = [cut(sent.seq, sent.flags, sent.payload, mss) for sent in self._rtx]
        self._rtx = [Sent(*piece) for pieces in queue for piece in pieces]
        for seq, flags, payload in (piece for pieces in queue if len(pieces) > 1 for piece in pieces):
            self._emit(flags, seq, payload)
            self.rtt.retransmitted(seq, Sent(seq, flags, payload).end, now)

    # ----------------------------------------------------------------- timers

    def _on_send_timers(self, now: float) -> None:
        """The delayed-ACK, retransmission and persist timers, in that order, each if it is due."""
        if self._delack_at is not None and now >= self._delack_at:
            self.send_ack()
        if self._rtx_at is not None and now >= self._rtx_at:
            self._on_retransmission_timeout(now)
        if self._persist_at is not None and now >= self._persist_at and self._sws_at is not None:
            self._output(now)  # the SWS override timeout: what the small window takes goes out
        elif self._persist_at is not None and now >= self._persist_at:
            # Zero-window probe: an already acknowledged sequence number with no text, which every
            # receiver must answer with an ACK carrying its current window (RFC 9293 3.10.7.4).
            self._emit(Flags.ACK, seqnum.add(self.snd_una, -1))
            self._probes += 1
            if persist_gives_up(self._probes, self.cfg.faults):
                self._send_rst(self.snd_nxt)
                self._move(Trigger.TIMEOUT_RETRANSMIT, now)
                return
            self._persist_interval = min(self._persist_interval * 2, MAX_RTO)
            self._persist_at = now + self._persist_interval

    def _on_retransmission_timeout(self, now: float) -> None:
        if not self._rtx or not self._retransmits(self._rtx[0]):
            self._rtx_at = None
            return
        if self._retries == 0:
            self._r2_from = now - self.rtt.rto
        limit = r2(self.state, self.options, self.cfg.faults)
        over = self.cfg.max_retransmits is not None and self._retries >= self.cfg.max_retransmits
        if over or gives_up(now, self._r2_from, limit):
            self._move(Trigger.TIMEOUT_RETRANSMIT, now)
            return
        self._retries += 1
        first = self._rtx[0]
        self._resend(first, now)
        if self.state in CAN_SEND and not first.flags & Flags.SYN:
            rest = self._rtx[1:] if self._has("rto-resends-window") else []
            for sent in rest:  # the fault: the whole window again at once
                self._resend(sent, now)
            flight = seqnum.diff(self.snd_nxt, self.snd_una)
            self.cc.timeout(self._retries == 1, flight, (rest or [first])[-1].end, self.snd_nxt, self._send_mss())
        if not self._has("no-backoff") and (self.state is not State.SYN_SENT or syn_backs_off(self.cfg.faults)):
            self.rtt.backoff()
        self._rtx_at = retransmission_at(now + self.rtt.rto, self._r2_from, limit)
