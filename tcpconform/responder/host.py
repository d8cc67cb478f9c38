"""The reference responder as a host: listening ports, connections by 4-tuple, the RSTs of RFC 9293
3.10.7.1, the scripted application, and the API the engine drives.

Sans-I/O (like h11 and aioquic): nothing here opens a socket, starts a thread or reads a clock.
The engine hands in segments and the time (``now``), drains :meth:`Responder.segments_to_send` and
:meth:`Responder.next_events`, and calls :meth:`Responder.handle_timer` when :meth:`Responder.get_timer`
says so.  Given the same inputs the responder produces the same outputs, which is what lets it be the
yardstick the test cases are checked against.

Serving for days (``tcpconform responder``), everything it keeps is bounded: connections by
``max_connections`` (half-open ones by ``backlog``); each connection's received text, out-of-order
pieces and text in flight by the window (65535 octets, no window scaling); the latest
:data:`DROPPED_KEPT` discarded segments and :data:`ENDED_KEPT` ended 4-tuples; the timer heap by
twice the connections.  Two things are the caller's to bound: what the application queues with
``app_write`` (as a socket's send buffer would), and the segments and events until drained.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from itertools import count

from tcpconform.responder.addresses import own, refused_connect, sourced, unbound_syn
from tcpconform.responder.app import ScriptedSession
from tcpconform.responder.checks import KNOWN_OPTIONS, malformed
from tcpconform.responder.clientisn import active_open_config
from tcpconform.responder.config import ResponderConfig
from tcpconform.responder.connection import Connection, ResponderError
from tcpconform.responder.events import AppAction, Event, StateChanged, listen_key
from tcpconform.responder.faults import OPTION_FAULTS, option_faults
from tcpconform.responder.icmp import on_icmp
from tcpconform.responder.iplayer import admitted
from tcpconform.responder.listener import half_open_limit
from tcpconform.responder.noconn import closed_reply, listener_reply, opens
from tcpconform.responder.passive import listen_resets, unlisten
from tcpconform.responder.peerclose import PeerEnds, read_end
from tcpconform.responder.robustness import LCG_SEED, as_received, lcg_next, listener_slips, option_crashes, urgent_wedges
from tcpconform.responder.sack import sack_wedges
from tcpconform.responder.sendmarks import odd_checksum, outgoing
from tcpconform.responder.services import ServiceSession
from tcpconform.responder.sockopts import SocketOptions, defaults
from tcpconform.responder.srcroute import SourceRoutes
from tcpconform.responder.states import Trigger, next_state
from tcpconform.responder.timers import Deadlines
from tcpconform.responder.timewait import reopen_isn, reopens
from tcpconform.tcp import seqnum
from tcpconform.tcp.icmp import IcmpError
from tcpconform.tcp.segment import Flags, FourTuple, Segment
from tcpconform.tcp.states import State
from tcpconform.tcp.streamend import ReadEnd

DROPPED_KEPT = 100
"""Discarded segments the responder keeps for inspection (the latest): enough to see why the last
burst was dropped, little enough (a few hundred kB of full-size segments) to keep a server running
for days at the memory it settles at within its first minutes."""

ENDED_KEPT = 1024
"""Ended connections whose 4-tuple the responder remembers (the latest), so that ``state`` says CLOSED
for them rather than the LISTEN of their port; only that answer depends on it (a segment for a gone
connection is processed as RFC 9293 3.10.7.1/2 say for none).  The engine asks only about the running
cases' connections (``--jobs`` 256 at most, a few each, just after they end): 1024 leaves a margin, an
older one is reported as its port's state.  About 270 bytes each, 280 kB at most."""


class Responder:
    """A TCP host with one address, per RFC 9293; see the module docstring for how it is driven."""

    def __init__(self, config: ResponderConfig | None = None) -> None:
        self.config = config if config is not None else ResponderConfig()
        self._outbox: list[Segment] = []
        self._events: list[Event] = []
        self._conns: dict[FourTuple, Connection] = {}
        self._routes = SourceRoutes(self.config.faults)  # each source-routed connection's return route
        self._born: dict[FourTuple, int] = {}
        """Each connection's serial number of creation: simultaneous timers run oldest first."""
        self._births = count()
        self._timers: Deadlines[FourTuple] = Deadlines()
        """Each connection's next deadline, its application's included (kept by :meth:`_schedule`)."""
        self._sessions: dict[FourTuple, ScriptedSession | ServiceSession] = {}
        self._listening: set[int] = set()
        self._listen_options: dict[int, SocketOptions] = {}
        """The options the application set on a listening port: its connections start with them."""
        self._ended: dict[FourTuple, None] = {}
        """Ended connections, oldest first, at most :data:`ENDED_KEPT` (an insertion-ordered set)."""
        self._half_open: set[FourTuple] = set()
        """Connections in SYN-RECEIVED (bounded by ``config.backlog``)."""
        self._peer_ends = PeerEnds()  # the connections a RST ended, for the application's next read (MUST-12)
        self.dropped: deque[tuple[Segment, str]] = deque(maxlen=DROPPED_KEPT)
        """The latest segments discarded, with the reason: malformed ones (bad checksum, bad data
        offset), and every one after the fault ``wedge-on-bad-option`` wedged the stack.  Only the
        last :data:`DROPPED_KEPT` are kept, so a responder serving for days stays the same size;
        ``dropped_count`` counts them all."""
        self.dropped_count = 0
        self._wedged = False
        self._silenced = False
        """The wedge also stops all output (fault ``sack-crash-on-bogus``): nothing goes out, not even the application's data."""
        self._lcg = LCG_SEED
        self._client_isn: int | None = None
        """The last active open's ISN under the fault ``client-isn-counter``."""
        self._start(0.0)

    def _start(self, now: float) -> None:
        if self._scripted:
            self._listen(self.config.port, now, "scripted application listens")
        for name, port in self.config.app.services:
            self._listen(port, now, f"{name} service listens")

    @property
    def _scripted(self) -> bool:
        return self.config.app.mode == "scripted"

    @staticmethod
    def key_for(peer_segment: Segment) -> FourTuple:
        """The responder-side key of the connection a peer's segment belongs to."""
        return peer_segment.key.reversed()

    @property
    def listening(self) -> frozenset[int]:
        return frozenset(self._listening)

    # ----------------------------------------------------------------- driving

    def handle_segment(self, seg: Segment, now: float) -> None:
        """A segment arrived.  Segments for another address are not ours and are ignored, and so are
        those the IP layer discards (:mod:`tcpconform.responder.iplayer`)."""
        seg, why = admitted(self.config, seg)
        if why is not None:
            self._drop(seg, why)
            return
        if not own(self.config, seg.dst):
            return
        if self._wedged:
            self._drop(seg, "the stack is wedged (fault wedge-on-bad-option)")
            return
        reason = self._discard_reason(seg)
        if reason is not None:
            self._drop(seg, reason)
            return
        if any(kind == "raw" for kind, _ in seg.options):
            seg = seg.with_(options=as_received(seg.options))  # what a wire would have delivered
        wedge = urgent_wedges(self.config, seg) or option_crashes(self.config, seg)
        if wedge is not None:
            self._wedged = True
            self._drop(seg, wedge)
            return
        if any(kind == "raw" for kind, _ in seg.options):
            # RFC 9293 3.1 (MUST-7): an illegal option length must not bring the stack down.  The
            # options are not used (they do not parse); the segment itself is processed.
            if self.config.has("wedge-on-bad-option"):
                self._wedged = True
                return
            seg = seg.with_(options=())
        key = self.key_for(seg)
        conn = self._conns.get(key)
        wedge = sack_wedges(self.config, seg, conn.snd_nxt) if conn is not None else None
        if wedge is not None:
            self._wedged = self._silenced = True  # a panicked stack sends nothing either
            self._drop(seg, wedge)
            return
        if conn is not None and seg.dport in self._listening and reopens(conn, seg, self.config.timestamps, self.config.faults):
            self._events.append(StateChanged(key, conn.state, State.CLOSED, now, "a new SYN reopens the connection"))
            self._retire(conn)
            self._on_listen(key, seg, now, reopen_isn(conn, self.config.faults))  # RFC 6191, RFC 9293 MAY-2
        elif conn is not None:
            synced = conn.state.synchronized  # a RST there is an abort the application is told of
            conn.on_segment(seg, now)
            if synced and seg.flags & Flags.RST and not conn.alive:
                self._peer_ends.reset(key)
            self._after(conn, now)
        elif seg.dport in self._listening and listener_slips(self.config, seg):
            self._listening.discard(seg.dport)  # the application's listen is gone: SYNs now find a closed port
        elif seg.dport in self._listening:
            self._on_listen(key, seg, now)
            if seg.src == self.config.ip and self.config.has("land-wedges"):
                self._wedged = True  # its SYN-ACK to itself comes back as a SYN-ACK, and so on: it loops
        else:
            self._reply(closed_reply(seg, self.config))  # RFC 9293 3.10.7.1
        self._routes.heard(key, seg, self._conns.get(key))  # RFC 9293 MUST-53, SHLD-24

    def handle_icmp(self, msg: IcmpError, now: float) -> None:
        """An ICMP(v6) error arrived: for the connection whose segment it quotes, if that is one of
        ours (:mod:`tcpconform.responder.icmp`); anything else is ignored."""
        quoted = msg.quoted
        if not own(self.config, msg.dst) or not own(self.config, quoted.src) or self._wedged:
            return
        conn = self._conns.get(quoted.key)
        if conn is not None:
            on_icmp(conn, msg, now)
            self._after(conn, now)

    def _drop(self, seg: Segment, reason: str) -> None:
        self.dropped.append((seg, reason))
        self.dropped_count += 1

    def _discard_reason(self, seg: Segment) -> str | None:
        """Why ``seg`` is dropped before TCP processing (RFC 9293 3.1), faults included."""
        has = self.config.has
        reason = malformed(seg, check_checksum=not has("accept-bad-checksum"),
                           check_dataofs=not has("accept-bad-dataofs"))
        if reason is None and has("reserved-bits-drop") and seg.reserved:
            reason = f"reserved bits {seg.reserved:#x} set (fault reserved-bits-drop)"
        if reason is None and has("drop-unknown-option"):
            unknown = [kind for kind, _ in seg.options if kind not in KNOWN_OPTIONS]
            if unknown:
                reason = f"unknown option kind {unknown[0]} (fault drop-unknown-option)"
        return reason

    def segments_to_send(self) -> list[Segment]:
        """Everything to put on the wire since the last call, in order."""
        out = [] if self._silenced else sourced(self.config, list(self._outbox))
        self._outbox.clear()  # cleared in place: every connection appends to this very list
        out = [self._stamped(seg) for seg in out]
        if "odd-checksum" in self.config.faults:
            out = [odd_checksum(seg) for seg in out]
        if self.config.faults & OPTION_FAULTS:
            out = [option_faults(seg, self.config.faults) for seg in out]
        return out

    def _stamped(self, seg: Segment) -> Segment:
        """``seg`` with the IP fields its connection's socket options set (MUST-48, MUST-49, SHLD-22)
        and its urgent pointer (MUST-62): :mod:`.sendmarks`; then its return route (MUST-53: :mod:`.srcroute`)."""
        conn = self._conns.get(seg.key)
        return seg if conn is None else self._routes.routed(
            outgoing(seg, conn.marks, conn.options, conn.snd_una, self.config.faults), conn)

    def next_events(self) -> list[Event]:
        """Everything reported since the last call, in order."""
        out = list(self._events)
        self._events.clear()
        return out

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must next be called; ``None`` when nothing is pending.

        The earliest deadline of any connection or its application, in O(1) amortised whatever the
        number of connections (:class:`~tcpconform.responder.timers.Deadlines`)."""
        return self._timers.earliest()

    def handle_timer(self, now: float) -> None:
        """Run every timer due at ``now``: delayed ACK, retransmission, persist, TIME_WAIT, app close.

        Each connection with a deadline ``<= now`` runs once, oldest connection first, in
        O(k log n) for k due among n; a deadline its timers set at ``now`` waits for the next call."""
        due = self._timers.pop_due(now)
        if len(due) > 1:
            due.sort(key=self._born.__getitem__)
        for key in due:
            conn = self._conns[key]  # a connection that is gone has no deadline left
            deadline = conn.deadline()
            if deadline is not None and deadline <= now:
                conn.neg.now = now  # the timestamp clock (the connection's own entry points set it too)
                conn.on_timer(now)
            session = self._sessions.get(key)
            if session is not None:
                session.on_timer(conn, now, self._events)
            self._after(conn, now)

    def reset(self, now: float) -> None:
        """Forget every connection without a word on the wire, pending segments and events too: as if
        constructed anew at ``now`` (scripted mode listens again; agent mode waits for ``app_listen``)."""
        self._outbox.clear()
        self._events.clear()
        self._conns.clear()
        self._born.clear()
        self._timers.clear()
        self._sessions.clear()
        self._listening.clear()
        self._listen_options.clear()
        self._ended.clear()
        self._peer_ends.clear()
        self._half_open.clear()
        self.dropped.clear()
        self.dropped_count = 0
        self._wedged = self._silenced = False
        self._start(now)

    def forget(self, key: FourTuple) -> None:
        """Drop connection ``key`` without a word on the wire (its test is over), leaving other connections,
        listening ports and pending output alone; ``state(key)`` is CLOSED afterwards."""
        conn = self._conns.pop(key, None)
        self._sessions.pop(key, None)
        self._peer_ends.forget(key)
        self._half_open.discard(key)
        self._born.pop(key, None)
        self._timers.set(key, None)
        if conn is not None:
            self._gone(key)

    # ----------------------------------------------------------------- demultiplexing

    def _on_listen(self, key: FourTuple, seg: Segment, now: float, iss: int | None = None) -> None:
        """RFC 9293 3.10.7.2: a segment for a listening port with no connection."""
        if not opens(seg):
            self._reply(listener_reply(seg, self.config))
            return
        backlog = half_open_limit(self.config.backlog, self.config.faults)
        if len(self._half_open) >= backlog:
            self._drop(seg, f"SYN dropped: the backlog of {backlog} half-open connections is full")
            return
        if len(self._conns) >= self.config.max_connections:
            self._drop(seg, f"SYN dropped: {self.config.max_connections} connections exist (max_connections)")
            return
        self._ended.pop(key, None)
        self._peer_ends.forget(key)  # a new connection on the tuple: no reset left to report
        cfg = self.config
        if cfg.has("lcg-isn"):  # the generator steps once per connection: the ISN is its next value
            self._lcg = lcg_next(self._lcg)
            cfg = replace(cfg, isn=self._lcg)
        conn = Connection(key, cfg, seg, now, self._outbox, self._events, self._listen_options.get(seg.dport), iss)
        self._conns[key] = conn
        self._born[key] = next(self._births)
        self._half_open.add(key)
        if self._scripted:
            self._sessions[key] = ScriptedSession()
        service = dict((port, name) for name, port in self.config.app.services).get(seg.dport)
        if service is not None:
            self._sessions[key] = ServiceSession(service=service)
        self._schedule(conn)

    def _reply(self, seg: Segment | None) -> None:
        if seg is not None:
            self._outbox.append(seg)

    def _after(self, conn: Connection, now: float) -> None:
        """Let the scripted application or the service act, then forget the connection if its TCB is gone."""
        session = self._sessions.get(conn.key)
        if session is not None:
            session.step(conn, self.config.app, now, self._events)
        if conn.state is not State.SYN_RCVD:
            self._half_open.discard(conn.key)
        if conn.alive:
            self._schedule(conn)
            return
        self._retire(conn)
        if conn.state is State.CLOSED:
            self._gone(conn.key)

    def _retire(self, conn: Connection) -> None:
        """Forget ``conn``'s TCB and everything kept beside it."""
        del self._conns[conn.key]
        self._sessions.pop(conn.key, None)
        self._half_open.discard(conn.key)
        self._born.pop(conn.key, None)
        self._timers.set(conn.key, None)

    def _schedule(self, conn: Connection) -> None:
        """Record the connection's next deadline, or its application's if earlier: to be called
        after anything that may have moved one (a segment, a timer, an application call)."""
        at = conn.deadline()
        session = self._sessions.get(conn.key)
        if session is not None:
            then = session.deadline()
            if then is not None and (at is None or then < at):
                at = then
        self._timers.set(conn.key, at)

    def _gone(self, key: FourTuple) -> None:
        """Remember that connection ``key`` ended (the latest :data:`ENDED_KEPT`)."""
        self._ended.pop(key, None)
        self._ended[key] = None
        if len(self._ended) > ENDED_KEPT:
            del self._ended[next(iter(self._ended))]

    # ----------------------------------------------------------------- the application

    def _listen(self, port: int, now: float, cause: str) -> None:
        if port in self._listening:
            return
        new = next_state(State.CLOSED, Trigger.APP_LISTEN)
        self._listening.add(port)
        key = listen_key(self.config.ip, port)
        self._events.append(StateChanged(key, State.CLOSED, new, now, cause))

    def app_listen(self, port: int, now: float) -> None:
        """Passive open on ``port`` (idempotent: listening again changes nothing)."""
        if not 0 < port <= 0xFFFF:
            raise ValueError(f"port must be 1..65535, not {port}")
        if port not in self._listening:
            self._events.append(AppAction(listen_key(self.config.ip, port), "listen", 0, now))
            self._listen(port, now, str(Trigger.APP_LISTEN))
            for key in listen_resets(self.config, self._conns, port, self._outbox):
                self.forget(key)

    def app_unlisten(self, port: int, now: float) -> None:
        """The application closes its listening socket on ``port``; its connections live on (:mod:`.passive`)."""
        self._events.extend(unlisten(self._listening, self._listen_options, listen_key(self.config.ip, port), now))

    def app_connect(self, key: FourTuple, now: float, bound: bool = True, route: tuple[str, ...] = ()) -> None:
        """Active open (RFC 9293 3.10.4) from ``key``'s local port to its peer: the SYN goes out now.
        ``bound`` False: the application gave the port alone, and ``key``'s address is the one IP
        chose (:mod:`.addresses`); ``route``: its IPv4 source route's hops (MUST-51, :mod:`.srcroute`).

        ``ResponderError`` when a connection on that 4-tuple exists already, ``key`` is not from
        one of the responder's own addresses, or its peer is a group address (MUST-46)."""
        refused = refused_connect(self.config, key)
        if refused is not None:
            raise ResponderError(refused)
        if key in self._conns:
            raise ResponderError(f"cannot connect: connection {key} exists (state {self._conns[key].state})")
        if len(self._conns) >= self.config.max_connections:
            raise ResponderError(f"cannot connect: {self.config.max_connections} connections exist (max_connections)")
        self._ended.pop(key, None)
        self._peer_ends.forget(key)
        self._events.append(AppAction(key, "connect", 0, now))
        cfg, self._client_isn = active_open_config(self.config, key, now, self._client_isn)
        conn = Connection(key, cfg, None, now, self._outbox, self._events)
        self._conns[key] = conn
        self._born[key] = next(self._births)
        self._routes.chosen(key, conn, route)
        self._schedule(conn)
        if not bound:
            unbound_syn(self.config, self._outbox, key)

    def _conn(self, key: FourTuple) -> Connection:
        conn = self._conns.get(key)
        if conn is None:
            raise ResponderError(f"no connection {key} (state {self.state(key)})")
        return conn

    def app_read(self, key: FourTuple, n: int, now: float) -> bytes:
        """Up to ``n`` bytes delivered in order and not read yet."""
        conn = self._conn(key)
        data = conn.app_read(n, now)
        self._events.append(AppAction(key, "read", len(data), now))
        self._schedule(conn)  # a window update may have gone out and taken the delayed ACK with it
        return data

    def read_end(self, key: FourTuple, now: float, *, drain: bool = False) -> ReadEnd:
        """What the application's next read tells of the stream's end (:mod:`.peerclose`); ``drain``: read unread bytes first."""
        if self._peer_ends.was_reset(key):
            return read_end(False, True, self.config.faults)
        conn = self._conn(key)
        if drain and conn.rcv.unread:
            self.app_read(key, conn.rcv.unread, now)
        return read_end(conn.peer_fin_received and not conn.rcv.unread, False, self.config.faults)

    def app_write(self, key: FourTuple, data: bytes, now: float, *, urgent: bool = False) -> None:
        """Queue ``data`` (``urgent``: as urgent data, :mod:`.sendmarks`); ``ResponderError`` once the app has closed."""
        conn = self._conn(key)
        conn.app_write(data, now)
        if urgent:
            conn.marks.urgent(seqnum.add(conn.snd_nxt, len(conn.send_queue)))
        self._events.append(AppAction(key, "write", len(data), now))
        self._after(conn, now)

    def app_setsockopt(self, where: FourTuple | int, name: str, value: int, now: float) -> None:
        """Set a socket option on connection ``where`` or on listening port ``where`` (its later
        connections inherit it); :class:`~.sockopts.UnsupportedOption` for one the responder lacks."""
        if isinstance(where, int):
            if where not in self._listening:
                raise ResponderError(f"no listening socket on port {where}")
            self._listen_options.setdefault(where, defaults(self.config.faults)).set(name, value)
            return
        conn = self._conn(where)
        conn.app_setsockopt(name, value, now)
        self._after(conn, now)

    def app_getsockopt(self, where: FourTuple | int, name: str) -> int:
        """Option ``name`` of connection ``where`` or of listening port ``where`` (:meth:`.SocketOptions.get`)."""
        if isinstance(where, int):
            if where not in self._listening:
                raise ResponderError(f"no listening socket on port {where}")
            return self._listen_options.get(where, defaults(self.config.faults)).get(name)
        return self._conn(where).options.get(name)

    def app_shutdown(self, key: FourTuple, now: float) -> None:
        """SHUT_WR: the FIN follows the queued data; receiving goes on."""
        conn = self._conn(key)
        self._events.append(AppAction(key, "shutdown", 0, now))
        conn.app_shutdown(now)
        self._after(conn, now)

    def app_close(self, key: FourTuple, now: float) -> None:
        """Close: as :meth:`app_shutdown`, and unread or later data is discarded."""
        conn = self._conn(key)
        self._events.append(AppAction(key, "close", 0, now))
        conn.app_close(now)
        self._after(conn, now)

    # ----------------------------------------------------------------- inspection

    def state(self, key: FourTuple) -> State:
        """The state of connection ``key``.

        With no connection: CLOSED if one existed and ended in CLOSED (its socket is gone), else
        LISTEN if ``key``'s local port listens, else CLOSED.
        """
        conn = self._conns.get(key)
        if conn is not None:
            return conn.state
        if key in self._ended or not own(self.config, key.src):
            return State.CLOSED
        return State.LISTEN if key.sport in self._listening else State.CLOSED

    def connections(self) -> list[FourTuple]:
        """Keys of the connections that exist now, oldest first."""
        return list(self._conns)
