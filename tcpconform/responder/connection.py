"""One connection of the reference responder: its TCB and RFC 9293's event processing (3.10.7).

The connection never reads a clock and never touches a socket: a segment, a timer expiry or an
application call comes in with ``now``; segments go out by being appended to the shared ``outbox``
and reports by being appended to ``events``; :meth:`Connection.deadline` says when it next needs
:meth:`Connection.on_timer`.  This module holds the TCB, the state changes, the arriving segment's
processing and the application's calls; the order of the checks in :meth:`Connection.on_segment`
(and the ACK, text and FIN processing it calls, all here) is RFC 9293 3.10.7.4's (sequence number,
RST, SYN, ACK, text, FIN) with RFC 5961's challenge ACKs, and every state change is a lookup in
:mod:`.states` (:meth:`Connection._move`), which also stops the send side's timers once the
connection is past sending.

What goes out and when (building segments, the retransmission queue, output under the peer's window,
the MSS, the path and Nagle, delayed ACKs, the retransmission and persist timers) is
:class:`~.send.SendSide`'s, a mixin of :class:`Connection`.  Nagle's algorithm and keep-alive are
decided in :mod:`.sockopts` and :mod:`.keepalive`, active open in :mod:`.active`, the robustness checks
in :mod:`.robustness`; window scaling, timestamps and ECN setup, when the SYN offers them, are
:mod:`.negotiate`'s.  Left out, to keep the reference small and easy to predict: congestion control
(RFC 5681; the peer's window alone limits sending), RTT estimation (the RTO is configured and only
backs off) and retransmission from SACK blocks (received ones are ignored, as RFC 2018 allows; the
blocks sent are :mod:`.sack`'s); urgent data stays in line.
"""
from __future__ import annotations

from tcpconform.responder.aborts import close_aborts, data_after_close_aborts, rst_ignored
from tcpconform.responder.active import SynSent, syn_sent
from tcpconform.responder.coalesce import WriteQueue
from tcpconform.responder.config import ResponderConfig
from tcpconform.responder.ecn import EcnState
from tcpconform.responder.events import ConnectionReset, DataReceived, Event, StateChanged
from tcpconform.responder.keepalive import KeepAlive
from tcpconform.responder.negotiate import Negotiation
from tcpconform.responder.path import PathState
from tcpconform.responder.receive import ReceiveBuffer
from tcpconform.responder.robustness import ack_too_old, mss_misaligned, peer_window, syn_resets_anywhere, urgent_text
from tcpconform.responder.sack import SackState
from tcpconform.responder.send import SendSide
from tcpconform.responder.sendmarks import SendMarks
from tcpconform.responder.shrink import shrink_aborts
from tcpconform.responder.sockopts import SocketOptions, defaults
from tcpconform.responder.states import Trigger, next_state
from tcpconform.responder.syn import choose_isn, peer_mss_option
from tcpconform.responder.throttle import ChallengeThrottle
from tcpconform.responder.zerowindow import announces_reopening, zero_window_drop
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, FourTuple, Segment, default_mss, is_ipv6
from tcpconform.tcp.states import State

_RECEIVES_TEXT = (State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2)
"""States in which the peer may still send data (it has not sent its FIN)."""

_RESET_REPORTED = (State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2, State.CLOSE_WAIT)
"""States in which RFC 9293 tells the user "connection reset" on a RST."""


class ResponderError(RuntimeError):
    """The application (or the engine playing it) asked for something the connection cannot do."""


class Connection(SendSide):
    """A TCB created by a SYN to a listening port, or (``syn`` None) by the application's active open,
    whose SYN_SENT processing is :mod:`.active`'s."""

    def __init__(
        self, key: FourTuple, cfg: ResponderConfig, syn: Segment | None, now: float,
        outbox: list[Segment], events: list[Event], options: SocketOptions | None = None, iss: int | None = None,
    ) -> None:
        self.key = key
        self.cfg = cfg
        self._outbox = outbox
        self._events = events
        self.state = State.LISTEN if syn is not None else State.CLOSED
        self.neg = Negotiation.of(syn, cfg, now)
        self.ecn = EcnState(self.neg.ecn)
        self.sack = SackState.of(syn, cfg)
        # Send side (RFC 9293 3.3.1).
        self.iss = choose_isn(cfg, key, now) if iss is None else iss  # given: a reopening from TIME-WAIT
        self.snd_una = self.iss
        self.snd_nxt = self.iss
        self.snd_wnd = 0
        self.snd_wl1 = 0
        self.snd_wl2 = 0
        self.active = syn is None
        """Opened actively (the application connected): its SYN_RCVD came from SYN_SENT."""
        self.path = PathState()
        self.send_queue = bytearray()
        self.writes = WriteQueue()  # where the queued writes end, under segment-per-write (:mod:`.coalesce`)
        self.fin_wanted = False
        self.fin_seq: int | None = None
        self._close_when_established = False
        self.app_shut = False
        """The application has shut down its sending side (even if a fault kept the FIN back)."""
        self.options = options.copy() if options is not None else defaults(cfg.faults)  # the listener's, then the app's
        self.keepalive = KeepAlive.begin(self.options, cfg.faults, now)
        self.challenges = ChallengeThrottle()  # RFC 5961 7
        self.marks = SendMarks()  # the urgent pointer and DS field on the way out (.sendmarks)
        # Receive side: settled by the peer's SYN (take_peer_syn); until then, in SYN_SENT, nothing.
        self.max_snd_wnd = 0
        self.peer_mss: int = default_mss(key.dst)
        self.irs = 0
        self.rcv = ReceiveBuffer(0, cfg.window)
        self._begin_sending()  # the retransmission queue, the timers, the window advertised: SendSide's
        self.peer_fin_received = False
        self._timewait_at: float | None = None
        if syn is None:  # RFC 9293 3.10.4: OPEN (active) in CLOSED: send the SYN, SYN_SENT
            self._move(Trigger.APP_CONNECT, now)
            self._transmit(Flags.SYN, b"", now)
            return
        # RFC 9293 3.10.7.2: SYN in LISTEN.  Text or FIN on the SYN is not queued: the SYN-ACK
        # acknowledges only the SYN, so the peer sends them again.
        self.take_peer_syn(syn)
        self._move(Trigger.RCV_SYN, now)
        self._transmit(Flags.SYN | Flags.ACK, b"", now)

    def take_peer_syn(self, syn: Segment) -> None:
        """What the peer's SYN settles: IRS and RCV.NXT, its window and its MSS."""
        self.max_snd_wnd = syn.window
        mss = None if mss_misaligned(self.cfg, syn) else peer_mss_option(syn, stop_at_nop=self.cfg.has("misparse-nop"))
        self.peer_mss = mss if isinstance(mss, int) and mss > 0 else self._default_mss(syn)
        self.irs = syn.seq & seqnum.MASK
        # The fault ack-syn-data acknowledges text on the SYN that it then never delivers.
        taken = 1 + (len(syn.payload) if self.cfg.has("ack-syn-data") and not self.active else 0)
        self.rcv = ReceiveBuffer(seqnum.add(self.irs, taken), self.cfg.window)
        self._rcv_adv = self.rcv.rcv_nxt

    # ----------------------------------------------------------------- bookkeeping

    @property
    def alive(self) -> bool:
        """False once the TCB is gone (CLOSED, or back to LISTEN after a passive open failed)."""
        return self.state not in (State.CLOSED, State.LISTEN)

    def _move(self, trigger: Trigger, now: float) -> None:
        old = self.state
        new = next_state(old, trigger, self.cfg.faults)
        if new is old:
            return
        self.state = new
        self._events.append(StateChanged(self.key, old, new, now, str(trigger)))
        if new is State.TIME_WAIT:
            self._stop_sending()
            self._timewait_at = now + 2 * self.cfg.msl
        elif new in (State.CLOSED, State.LISTEN):
            self._stop_sending()
            self._timewait_at = None

    def deadline(self) -> float | None:
        """When :meth:`on_timer` must next be called, if ever."""
        timers = (*self._send_timers(), self._timewait_at, self.keepalive.at)
        times = [t for t in timers if t is not None]
        return min(times) if times else None

    def _default_mss(self, syn: Segment) -> int:
        """RFC 9293 3.7.1 (MUST-15): 536 over IPv4, 1220 over IPv6, without an MSS option."""
        if self._has("ipv6-mss-from-link") and is_ipv6(syn.src):
            return self.cfg.own_mss
        return default_mss(syn.src)

    # ----------------------------------------------------------------- timers

    def on_timer(self, now: float) -> None:
        self._on_send_timers(now)  # delayed ACK, retransmission, persist
        if self._timewait_at is not None and now >= self._timewait_at:
            self._timewait_at = None
            self._move(Trigger.TIMEOUT_2MSL, now)
        action = self.keepalive.on_timer(self.options, self.cfg.faults, now, busy=self.snd_una != self.snd_nxt
                                         or bool(self.send_queue), eligible=self.state in (State.ESTABLISHED, State.CLOSE_WAIT))
        if action == "probe":  # RFC 9293 3.8.4: SEG.SEQ = SND.NXT - 1, no data; the peer answers with an ACK
            self._emit(Flags.ACK, seqnum.add(self.snd_nxt, -1))
        elif action == "abort":
            self._send_rst(self.snd_nxt)
            self._move(Trigger.TIMEOUT_KEEPALIVE, now)

    def icmp_abort(self, now: float) -> None:
        self._move(Trigger.ICMP_ABORT, now)  # a hard error in SYN_RCVD; any under soft-error-aborts

    # ----------------------------------------------------------------- segment arrival

    def _acceptable(self, seg: Segment) -> bool:
        """RFC 9293 3.10.7.4, first check: does any of the segment fall in the receive window?"""
        wnd, nxt, length = self._rcv_wnd(), self.rcv.rcv_nxt, seg.seg_len
        if length == 0:
            return seg.seq == nxt if wnd == 0 else seqnum.in_window(seg.seq, nxt, wnd)
        if wnd == 0:
            return False
        last = seqnum.add(seg.seq, length - 1)
        return seqnum.in_window(seg.seq, nxt, wnd) or seqnum.in_window(last, nxt, wnd)

    def on_segment(self, seg: Segment, now: float) -> None:
        """A segment for this connection: SYN_SENT (3.10.7.3), SYN_RCVD or a synchronized state (3.10.7.4)."""
        flags, self.neg.now = seg.flags, now
        self.keepalive.on_receive(self.options, self.cfg.faults, now)
        if self.state is State.SYN_SENT:
            self._on_syn_sent(seg, now)
            return
        drop = zero_window_drop(self.cfg, seg, self._rcv_wnd()) if self.state.synchronized else None
        if drop is not None:  # a zero-window fault (:mod:`.zerowindow`)
            if drop == "with-ack":
                self.send_ack()
            return
        # RFC 7323 5.3: PAWS makes a segment unacceptable too
        if not self.neg.admits(seg, self._acceptable(seg) or syn_resets_anywhere(self.cfg, seg, self.state)):
            self._unacceptable(seg, now)
            return
        self.ecn.received(seg, self.snd_nxt, self.cc, seqnum.diff(self.snd_nxt, self.snd_una), self._send_mss(), self.cfg.faults)
        if flags & Flags.RST:
            if rst_ignored(seg, self.cfg.faults):
                return
            if seg.seq == self.rcv.rcv_nxt or self._has("rst-any-seq"):
                self._reset(now)
            elif self.challenges.allows(now, self.cfg.faults):
                self.send_ack()  # RFC 5961 3.2: in the window but not exact: challenge ACK (throttled, 7)
            return
        if flags & Flags.SYN:
            if self.state is State.SYN_RCVD:
                if self._has("rst-syn-in-syn-rcvd"):
                    self._send_rst(seg.ack if flags & Flags.ACK else self.snd_nxt)
                self._move(Trigger.RCV_SYN, now)  # passive open: back to LISTEN
            elif self._has("syn-resets") or syn_resets_anywhere(self.cfg, seg, self.state):
                self._send_rst(self.snd_nxt)
                self._move(Trigger.RCV_SYN, now)
            elif self.challenges.allows(now, self.cfg.faults):
                self.send_ack()  # RFC 5961 4.2: challenge ACK (throttled, 7)
            return
        if not flags & Flags.ACK:
            if not self._has("process-without-ack"):
                return  # fifth check: without the ACK bit, drop the segment
            if self.state is State.SYN_RCVD:
                self._process_text(seg, now)  # the fault reaches the eighth check without an ACK
                return
        elif not self._process_ack(seg, now):
            return
        if self._has("ack-the-ack") and not seg.payload and not flags & Flags.FIN and self.state.synchronized:
            self.send_ack()
        if self.state in _RECEIVES_TEXT and data_after_close_aborts(self.rcv.discarding, seg, self.rcv.rcv_nxt, self.cfg.faults):
            self._abort(Flags.RST, seg.ack, now)  # SHLD-3: data after the application closed
            return
        if self.state in _RECEIVES_TEXT:
            self._process_text(urgent_text(self.cfg, seg), now)  # urgent data in line, as ordinary text
        if self._close_when_established and self.state.synchronized:
            self._close_when_established = False
            self._send_fin(now)  # a close the application asked for in SYN_RCVD
        if self.alive:
            self._output(now)

    def _on_syn_sent(self, seg: Segment, now: float) -> None:
        """Carry out :func:`.active.syn_sent`'s decision (RFC 9293 3.10.7.3)."""
        action = syn_sent(seg, self.iss, self.snd_nxt, self.cfg.faults)
        if action is SynSent.RESET_ACK:
            self._send_rst(seg.ack)
        elif action is SynSent.REFUSED:
            self._move(Trigger.RCV_RST, now)  # "connection refused" to the application
        elif action is SynSent.SIMULTANEOUS:
            self.take_peer_syn(seg)
            self._requeue_syn_ack()
            self._move(Trigger.RCV_SYN, now)
            self._emit(Flags.SYN | Flags.ACK, self.iss)
        elif action is SynSent.ESTABLISH:
            self.take_peer_syn(seg)
            self.snd_una = self.snd_nxt  # the SYN is acknowledged (or, under a fault, taken to be)
            self._syn_acked()
            self.snd_wnd, self.snd_wl1, self.snd_wl2 = seg.window, seg.seq, seg.ack
            self._move(Trigger.RCV_SYN_ACK, now)
            self.send_ack()
            self._output(now)

    def _reset(self, now: float) -> None:
        """An accepted RST: the connection is gone (RFC 9293 3.10.7.4, second check), silently but
        under the fault ``rst-answers-rst``, which answers it as a stack answers a segment it has no
        connection for: RST+ACK acknowledging the RST's sequence number (3.5.2's ACK-less case)."""
        if self._has("rst-answers-rst"):
            self._outbox.append(Segment(
                src=self.key.src, dst=self.key.dst, sport=self.key.sport, dport=self.key.dport,
                seq=self.snd_nxt & seqnum.MASK, ack=self.rcv.rcv_nxt, flags=Flags.RST | Flags.ACK,
            ))
        if self.state in _RESET_REPORTED:
            self._events.append(ConnectionReset(self.key, now))
        self._move(Trigger.RCV_RST, now)

    def _unacceptable(self, seg: Segment, now: float) -> None:
        flags = seg.flags
        if flags & Flags.RST:
            # RFC 5961 3.2: a RST outside the window is silently dropped, and a RST is never answered.
            if self._has("rst-out-of-window") and not self._has("ignore-rst"):
                self._reset(now)
            elif self._has("answer-rst-with-rst"):
                self._send_rst(seg.ack if flags & Flags.ACK else self.snd_nxt)
            return
        dup_syn = flags & Flags.SYN and not flags & Flags.ACK and seg.seq == self.irs
        if self.state is State.SYN_RCVD and dup_syn and not self._has("dup-syn-ack-only"):
            # The peer sent its SYN again: it has not seen our SYN-ACK, so send that again (as BSD and
            # Linux do) rather than an ACK it could only answer with a RST.
            self._emit(Flags.SYN | Flags.ACK, self.iss)
            return
        if self._has("ignore-unacceptable"):
            return
        if self.state is State.TIME_WAIT and flags & Flags.FIN:
            if self._has("time-wait-ignores-fin"):
                return
            self._timewait_at = now + 2 * self.cfg.msl  # a retransmitted FIN: ACK it, restart 2*MSL
        if (
            self.state.synchronized and flags & Flags.ACK and not flags & Flags.SYN
            and self._rcv_wnd() == 0 and seg.seq == self.rcv.rcv_nxt
        ):
            # RFC 9293 3.10.7.4: with a zero window the text is refused but a valid ACK still counts.
            if not self._process_ack(seg.with_(payload=b"", flags=Flags.ACK), now) or not self.alive:
                return
            self._output(now)
        self.send_ack()

    def _process_ack(self, seg: Segment, now: float) -> bool:
        """RFC 9293 3.10.7.4, fifth check, with RFC 5961 5.2.  False: drop the rest of the segment."""
        ack = seg.ack
        if self.state is State.SYN_RCVD:
            if self._has("defer-accept") and not seg.payload and not seg.flags & Flags.FIN:
                return False  # the fault: a bare ACK does not complete the handshake
            acks_syn = seqnum.lt(self.snd_una, ack) and seqnum.le(ack, self.snd_nxt)
            if not acks_syn and not self._has("accept-any-ack-syn-rcvd"):
                self._send_rst(ack)
                return False
            self.snd_wnd, self.snd_wl1, self.snd_wl2 = self.neg.peer_window(seg, peer_window(self.cfg, seg.window)), seg.seq, ack
            self.max_snd_wnd = max(self.max_snd_wnd, self.snd_wnd)
            self._move(Trigger.RCV_ACK_OF_SYN, now)
        if seqnum.gt(ack, self.snd_nxt) and self._has("accept-ack-of-unsent"):
            ack = self.snd_nxt  # the fault: the impossible ACK is taken as acknowledging all that was sent
        elif seqnum.gt(ack, self.snd_nxt) or ack_too_old(self.cfg, ack, self.snd_una, self.max_snd_wnd):
            self.send_ack()  # acknowledges data never sent, or far too old
            return False
        old_edge = seqnum.add(self.snd_una, self.snd_wnd)
        advances = seqnum.lt(self.snd_una, ack)
        if advances:
            self._acked(ack, now)  # SND.UNA = SEG.ACK, the retransmission queue and timer with it
        elif ack == self.snd_una and not seg.payload and not seg.flags & (Flags.SYN | Flags.FIN):
            self._duplicate_ack(self.neg.peer_window(seg, peer_window(self.cfg, seg.window)), now)  # RFC 5681 3.2
        # RFC 9293's WL1/WL2 test, or (as Linux) an ACK advancing SND.UNA (WL1 may be a later segment's)
        wl = seqnum.lt(self.snd_wl1, seg.seq) or (self.snd_wl1 == seg.seq and seqnum.le(self.snd_wl2, ack))
        if seqnum.le(self.snd_una, ack) and (advances or wl):
            self.snd_wnd, self.snd_wl1, self.snd_wl2 = self.neg.peer_window(seg, peer_window(self.cfg, seg.window)), seg.seq, ack
            self.max_snd_wnd = max(self.max_snd_wnd, self.snd_wnd)
            if shrink_aborts(old_edge, seqnum.add(self.snd_una, self.snd_wnd), self.cfg.faults):
                self._send_rst(self.snd_nxt)
                self._move(Trigger.PEER_WINDOW_SHRUNK, now)
                return False
        fin_acked = self.fin_seq is not None and seqnum.gt(self.snd_una, self.fin_seq)
        if fin_acked and self.state in (State.FIN_WAIT_1, State.CLOSING, State.LAST_ACK) \
                and not self._has("ignore-ack-of-fin"):
            self._move(Trigger.RCV_ACK_OF_FIN, now)
        return self.alive

    def _process_text(self, seg: Segment, now: float) -> None:
        """RFC 9293 3.10.7.4, seventh and eighth checks: deliver the text, then act on the FIN."""
        fin = bool(seg.flags & Flags.FIN) and not self._has("ignore-fin")
        right_edge = seqnum.add(self.rcv.rcv_nxt, self._rcv_wnd())
        self.sack.arrived(seg.seq, len(seg.payload), self.rcv.rcv_nxt)  # the trigger of the ACK it draws
        arrival = self.rcv.insert(
            seg.seq, seg.payload, fin, right_edge, keep_out_of_order=not self._has("drop-out-of-order"),
            trim_duplicates=not self._has("deliver-duplicates"),
        )
        if arrival.delivered:
            self._events.append(DataReceived(self.key, arrival.delivered, now))
        if arrival.fin:
            self.rcv.consume_fin()
            self.peer_fin_received = True
            self._move(Trigger.RCV_FIN, now)
            if self.state is State.LAST_ACK:  # fin-without-app: our FIN goes with the ACK of theirs
                self.fin_wanted = True
                self._output(now)
            else:
                self.send_ack()  # a FIN is acknowledged at once
        elif arrival.out_of_order and self._has("no-dup-ack"):
            return
        elif arrival.out_of_order or arrival.filled_gap or (seg.payload and arrival.duplicate):
            self.send_ack()  # RFC 5681 4.2: out of order, gap filled, or a duplicate: ACK at once
        elif arrival.delivered:
            self._delay_ack(arrival.delivered, now)

    # ----------------------------------------------------------------- application calls

    def app_read(self, n: int, now: float) -> bytes:
        """Up to ``n`` unread bytes; reopens a window the peer was told was (nearly) closed."""
        before, self.neg.now = self._rcv_wnd(), now
        data = self.rcv.read(n)
        threshold = min(self.cfg.window // 2, self.cfg.own_mss)
        if data and self.alive and announces_reopening(self.cfg, before, self._rcv_wnd(), threshold):
            self.send_ack()  # window update (RFC 9293 3.8.6.2.2), so the peer need not probe
        return data

    @property
    def can_write(self) -> bool:
        """Whether the application may still queue data (it has not closed; no FIN is on its way)."""
        writable = (State.SYN_SENT, State.SYN_RCVD, State.ESTABLISHED, State.CLOSE_WAIT)
        return not self.app_shut and not self.fin_wanted and self.state in writable

    def app_write(self, data: bytes, now: float) -> None:
        if not self.can_write:
            raise ResponderError(f"{self.key}: cannot write: connection closing (state {self.state})")
        self.send_queue, self.neg.now = self.send_queue + data, now
        self.writes.wrote(len(data), self.cfg.faults)
        self._output(now)

    def app_shutdown(self, now: float) -> None:
        """SHUT_WR: a FIN after the queued data (RFC 9293 3.10.4); in SYN_RCVD, once established."""
        if self.app_shut:
            return
        self.app_shut, self.neg.now = True, now
        if self._has("no-fin-on-close"):
            return
        if self.state is State.SYN_SENT:
            self._move(Trigger.APP_CLOSE, now)  # RFC 9293 3.10.4: CLOSE in SYN_SENT deletes the TCB
        elif self.state is State.SYN_RCVD:
            self._close_when_established = True
        else:
            self._send_fin(now)

    def _send_fin(self, now: float) -> None:
        if self.fin_wanted or self.state not in (State.ESTABLISHED, State.CLOSE_WAIT):
            return  # already on its way (fin-without-app), or the connection is past sending
        self.fin_wanted = True
        self._move(Trigger.APP_CLOSE, now)
        self._output(now)

    def app_setsockopt(self, name: str, value: int, now: float) -> None:
        """Set a socket option (:class:`~.sockopts.SocketOptions`); TCP_NODELAY sends what Nagle held."""
        was_on = self.options.keepalive
        self.options.set(name, value)
        self.keepalive.option_set(name, was_on, self.options, self.cfg.faults, now)
        self._output(now)

    def app_close(self, now: float) -> int:
        """Full close: shutdown, and received data is from now on discarded; with data left unread, a RST
        instead (RFC 9293 3.6.1, SHLD-3).  Returns the bytes dropped."""
        dropped = self.rcv.discard_unread()
        if close_aborts(dropped, self.cfg.faults) and self.state.synchronized and self.state is not State.TIME_WAIT:
            self._abort(Flags.RST | Flags.ACK, self.snd_nxt, now)
        else:
            self.app_shutdown(now)
        return dropped

    def _abort(self, flags: Flags, seq: int, now: float) -> None:
        """The connection ends with a RST at ``seq`` (RST+ACK acknowledging all received, as Linux's
        active reset, or a bare RST answering a segment), nothing more sent, CLOSED."""
        self.app_shut = True
        if flags & Flags.ACK:
            self._emit(flags, seq)
        else:
            self._send_rst(seq)
        self._stop_sending()
        self._move(Trigger.APP_ABORT, now)
