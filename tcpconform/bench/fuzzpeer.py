"""Random and semi-valid peers against one reference responder, every segment it sends checked.

A :class:`Harness` owns a :class:`~tcpconform.responder.Responder` and plays ``slots`` peers on a
virtual clock.  It runs *operations*: a segment from one peer (:class:`Send`), time passing with every
timer due run (:class:`Wait`), an application call in agent mode (:class:`App`), and a peer leaving
(:class:`Leave`: a RST, the engine forgetting the connection, or silence; the slot then comes back on
a fresh port, so a long run goes through ever new 4-tuples while the live ones stay as many as the
slots).  Each peer keeps what it saw of its connection, so its segments are *semi-valid*: numbers
right or a little off, flags as a TCP sends them, with random ones, odd options, bad checksums and
data offsets mixed in.  :class:`~tcpconform.responder.invariants.Invariants` judges every segment
the responder sends.

The operations are plain data, so the random campaign (:func:`random_op`, ``tcpconform bench
--fuzz``) and the property tests (hypothesis strategies building the same dataclasses) drive the
same code.  Memory: per slot, one peer; the checker's state for the 4-tuples left in silence is
dropped once the responder has ended them (:meth:`Harness.sweep`).
"""

from __future__ import annotations

import random
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from tcpconform.responder import AppConfig, Responder, ResponderConfig, ResponderError
from tcpconform.responder.invariants import Break, Invariants
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, FourTuple, Option, Segment
from tcpconform.tcp.states import State

Mode = Literal["scripted", "agent", "services"]
Kind = Literal["syn", "ack", "data", "fin", "rst", "any"]
SERVICES = (("echo", 7), ("discard", 9), ("daytime", 13), ("chargen", 19))
SEND_BUFFER = 65536
"""The application (agent mode) writes only while less than this is waiting to be sent, as a
blocking socket would: what it queues is the application's to bound, not TCP's."""
KEPT = 5
"""Breaks and exceptions kept with their description (all are counted)."""
TIMERS_PER_WAIT = 10_000
"""Timer rounds one :class:`Wait` may take; more means a timer that keeps firing at one instant."""
_PAYLOAD = random.Random(0).randbytes(70_000)


@dataclass(frozen=True, slots=True)
class Send:
    """A segment from peer ``slot``: ``kind`` says which numbers a TCP would use, the offsets shift them."""

    slot: int
    kind: Kind
    seq_off: int = 0
    ack_off: int = 0
    length: int = 0
    window: int = 65535
    flags: int = 0
    """Flag bits added (for ``any``: the flags)."""
    options: tuple[Option, ...] = ()
    malformed: Literal["", "checksum", "dataofs"] = ""


@dataclass(frozen=True, slots=True)
class Wait:
    seconds: float


@dataclass(frozen=True, slots=True)
class App:
    slot: int
    action: Literal["write", "read", "shutdown", "close", "listen"]
    n: int = 0


@dataclass(frozen=True, slots=True)
class Leave:
    slot: int
    how: Literal["rst", "forget", "silent"]


Op = Send | Wait | App | Leave


@dataclass(slots=True)
class _Peer:
    ip: str
    port: int
    dport: int
    isn: int = 0
    nxt: int = 0
    """The next sequence number this peer sends."""
    rcv: int | None = None
    """Past the furthest of the responder's sequence space seen: what this peer acknowledges."""
    their_isn: int = 0
    written: int = 0
    """Bytes the application wrote on this connection (agent mode)."""

    @property
    def unsent(self) -> int:
        """Roughly what the application wrote and the responder has not sent yet."""
        return self.written - (seqnum.diff(self.rcv, self.their_isn) - 1 if self.rcv is not None else 0)


@dataclass(slots=True)
class Tally:
    """What a run found: counts, and the first few of each with their description."""

    segments: int = 0
    taken: int = 0
    sent: int = 0
    app_errors: int = 0
    breaks: int = 0
    exceptions: int = 0
    responder_seconds: float = 0.0
    """Time spent inside the responder taking segments in and running timers."""
    first_breaks: list[str] = field(default_factory=list)
    first_exceptions: list[str] = field(default_factory=list)


class Harness:
    """One responder in ``mode``, ``slots`` peers, a virtual clock; see the module docstring."""

    def __init__(self, mode: Mode, slots: int = 16, *, isn: int | None = None, name: int = 0,
                 faults: frozenset[str] = frozenset()) -> None:
        app = AppConfig(mode=mode, services=SERVICES if mode == "services" else ())
        self.config = ResponderConfig(app=app, isn=isn, backlog=64, max_connections=3 * slots + 64, faults=faults)
        self.responder = Responder(self.config)
        self.checker = Invariants(own_mss=self.config.own_mss)
        self.mode = mode
        self.now = 0.0
        self.tally = Tally()
        self._born = 0
        self._ips = [f"10.{name & 255}.{slot >> 8 & 255}.{slot & 255}" for slot in range(max(1, slots))]
        """One address per slot, one string each: as on the wire, where the decoder shares them."""
        self._peers = [self._new_peer(i) for i in range(max(1, slots))]
        self._by_key: dict[FourTuple, _Peer] = {}
        for peer in self._peers:
            self._by_key[self._key(peer)] = peer
        self._silent: list[FourTuple] = []
        if mode == "agent":
            self._call(lambda: self.responder.app_listen(self.config.port, self.now))
        self._drain(None)

    # ------------------------------------------------------------------ peers

    def _new_peer(self, slot: int) -> _Peer:
        self._born += 1
        port = 1024 + (self._born * 7919 + slot) % 64000
        dport = SERVICES[slot % len(SERVICES)][1] if self.mode == "services" else self.config.port
        return _Peer(self._ips[slot], port, dport)

    def _key(self, peer: _Peer) -> FourTuple:
        """The responder's key of the peer's connection (the responder's side first)."""
        return FourTuple(self.config.ip, peer.dport, peer.ip, peer.port)

    def _peer(self, slot: int) -> _Peer:
        return self._peers[slot % len(self._peers)]

    def segment(self, op: Send) -> Segment:
        """The segment ``op`` stands for, from its peer's view of the connection."""
        peer = self._peer(op.slot)
        flags = Flags(op.flags & 0x1FF)
        ack = seqnum.add(peer.rcv if peer.rcv is not None else op.ack_off * 7919, op.ack_off)
        length = max(0, op.length)
        if op.kind == "syn":
            peer.isn = seqnum.add(op.seq_off, 0)
            peer.nxt = seqnum.add(peer.isn, 1)
            peer.rcv = None
            seq, flags, length = peer.isn, Flags.SYN | (flags & ~Flags.ACK), 0
        else:
            seq = seqnum.add(peer.nxt, op.seq_off)
            if op.kind == "any":
                pass
            elif op.kind == "rst":
                flags |= Flags.RST
                length = 0
            else:
                flags |= Flags.ACK | (Flags.FIN if op.kind == "fin" else Flags.NONE)
                length = 0 if op.kind == "ack" else length
                if op.seq_off == 0:
                    peer.nxt = seqnum.add(peer.nxt, length + (1 if op.kind == "fin" else 0))
        start = (op.seq_off * 31) % (len(_PAYLOAD) - length) if length < len(_PAYLOAD) else 0
        seg = Segment(src=peer.ip, dst=self.config.ip, sport=peer.port, dport=peer.dport, seq=seq,
                      ack=ack if flags & Flags.ACK else 0, flags=flags, window=op.window & 0xFFFF,
                      options=op.options, payload=_PAYLOAD[start:start + length])
        if op.malformed == "checksum":
            return seg.with_(chksum="bad")
        if op.malformed == "dataofs":
            return seg.with_(dataofs=5 + (op.length % 3) + 1)
        return seg

    # ------------------------------------------------------------------ operations

    def run(self, op: Op) -> None:
        """Carry out one operation; exceptions are counted, never raised."""
        try:
            if isinstance(op, Send):
                self._send(op)
            elif isinstance(op, Wait):
                self._wait(op.seconds)
            elif isinstance(op, App):
                self._app(op)
            else:
                self._leave(op)
        except Exception as err:  # the campaign's finding: counted, described, and the run goes on
            self._exception(err)

    def _exception(self, err: Exception) -> None:
        self.tally.exceptions += 1
        if len(self.tally.first_exceptions) < KEPT:
            where = traceback.extract_tb(err.__traceback__)[-1]
            self.tally.first_exceptions.append(f"{type(err).__name__}: {err} (at {where.filename}:{where.lineno})")

    def _send(self, op: Send) -> None:
        seg = self.segment(op)
        self.now += 1e-4
        self.tally.segments += 1
        before = self.responder.dropped_count
        t = time.perf_counter()
        self.responder.handle_segment(seg, self.now)
        self.tally.responder_seconds += time.perf_counter() - t
        if self.responder.dropped_count == before:
            self.tally.taken += 1
            self.checker.peer_sent(seg)
        self._drain(seg)

    def _wait(self, seconds: float) -> None:
        until = self.now + max(0.0, seconds)
        for _ in range(TIMERS_PER_WAIT):
            due = self.responder.get_timer()
            if due is None or due > until:
                break
            self.now = max(self.now, due)
            t = time.perf_counter()
            self.responder.handle_timer(self.now)
            self.tally.responder_seconds += time.perf_counter() - t
            self._drain(None)
        else:
            raise RuntimeError(f"timers still due at {self.now} after {TIMERS_PER_WAIT} rounds")
        self.now = until

    def _call(self, call: Callable[[], object]) -> None:
        try:
            call()
        except (ResponderError, ValueError):  # the documented answers to a call the state forbids
            self.tally.app_errors += 1

    def _app(self, op: App) -> None:
        if self.mode != "agent":
            return
        peer = self._peer(op.slot)
        r, key, now = self.responder, self._key(peer), self.now
        if op.action == "write":
            if peer.unsent < SEND_BUFFER:
                data = _PAYLOAD[: max(0, op.n) % 8192]
                self._call(lambda: r.app_write(key, data, now))
                peer.written += len(data)
        elif op.action == "read":
            self._call(lambda: r.app_read(key, max(0, op.n), now))
        elif op.action == "shutdown":
            self._call(lambda: r.app_shutdown(key, now))
        elif op.action == "close":
            self._call(lambda: r.app_close(key, now))
        else:
            self._call(lambda: r.app_listen(op.n, now))
        self._drain(None)

    def _leave(self, op: Leave) -> None:
        slot = op.slot % len(self._peers)
        peer = self._peers[slot]
        key = self._key(peer)
        if op.how == "rst":
            self._send(Send(slot, "rst"))
        if op.how == "forget":
            self.responder.forget(key)
            self.checker.forget(key)
        else:
            self._silent.append(key)
        del self._by_key[key]
        fresh = self._new_peer(slot)
        self._peers[slot] = fresh
        self._by_key[self._key(fresh)] = fresh
        if len(self._silent) > 2 * len(self._peers):
            self.sweep()

    def sweep(self) -> None:
        """Forget, in the checker, the 4-tuples left in silence whose connection the responder ended;
        of those it still has, all but the latest ``slots`` are forgotten in the responder too, as
        the engine forgets a test's connections (a connection whose peer went silent lives for ever,
        and would soon fill ``max_connections``)."""
        gone = (State.CLOSED, State.LISTEN)
        keep = []
        for key in self._silent:
            if key in self._by_key:
                continue  # a peer of today came back on that 4-tuple: it is its own again
            if self.responder.state(key) in gone:
                self.checker.forget(key)
            else:
                keep.append(key)
        excess = max(0, len(keep) - len(self._peers))
        for key in keep[:excess]:
            self.responder.forget(key)
            self.checker.forget(key)
        self._silent = keep[excess:]

    def _drain(self, cause: Segment | None) -> None:
        """Check what the responder sent and let each peer see what was sent to it."""
        self.responder.next_events()
        for out in self.responder.segments_to_send():
            self.tally.sent += 1
            for problem in self.checker.responder_sent(out, cause):
                self._broke(problem)
            peer = self._by_key.get(out.key)
            if peer is not None and not out.flags & Flags.RST:
                end = seqnum.add(out.seq, out.seg_len)
                if out.flags & Flags.SYN:
                    peer.their_isn, peer.written = out.seq, 0
                if out.flags & Flags.SYN or peer.rcv is None or seqnum.gt(end, peer.rcv):
                    peer.rcv = end

    def _broke(self, problem: Break) -> None:
        self.tally.breaks += 1
        if len(self.tally.first_breaks) < KEPT:
            self.tally.first_breaks.append(f"{self.mode}: {problem}")


# ---------------------------------------------------------------------- random operations

_KINDS: tuple[Kind, ...] = ("syn", "ack", "ack", "data", "data", "data", "data", "fin", "rst", "any")
_ISNS = (0, 0xFFFFFFFF, 0xFFFFFF00, 0x7FFFFFFF, 0x7FFFFF00, 0x80000000)


def _options(rng: random.Random) -> tuple[Option, ...]:
    pick = rng.random()
    if pick < 0.7:
        return ()
    if pick < 0.85:
        return (("MSS", rng.choice([0, 1, 64, 200, 536, 1460, 65535])),)
    if pick < 0.92:
        return (("NOP", None), ("MSS", rng.randrange(1, 2000)), ("SAckOK", None), ("Timestamp", (1, 2)))
    return (("raw", rng.choice([b"\x02\x00", b"\x02\x05\x01", b"\x1d\x03\x54\x7e\x02\x04\xae\xcc", b"\x00\x01\x02"])),)


def _off(rng: random.Random) -> int:
    """An offset from the right number: mostly none, often a little, sometimes anything."""
    pick = rng.random()
    if pick < 0.8:
        return 0
    if pick < 0.95:
        return rng.randint(-3, 3) * rng.choice([1, 1, 100, 1000])
    return rng.randrange(-(1 << 31), 1 << 31)


def random_send(rng: random.Random, slots: int) -> Send:
    """A segment from a random peer: mostly what a TCP would send, a fifth of it off in some way."""
    kind = rng.choice(_KINDS)
    seq_off = rng.choice(_ISNS) if kind == "syn" and rng.random() < 0.3 else _off(rng)
    if kind == "syn" and seq_off == 0:
        seq_off = rng.randrange(1 << 32)
    extra = rng.randrange(0x200) if kind == "any" else (rng.choice([0x08, 0x20, 0x40, 0x80, 0x01]) if rng.random() < 0.1 else 0)
    if kind in ("ack", "data") and rng.random() < 0.05:
        extra |= Flags.SYN
    length = rng.choice([1, 10, 100, 536, 1000, 1460, 3000]) if rng.random() < 0.6 else rng.randrange(0, 1500)
    window = rng.choice([0, 1, 100, 1000, 65535, 65535, 65535, rng.randrange(65536)])
    bad = rng.random()
    malformed: Literal["", "checksum", "dataofs"] = "checksum" if bad < 0.02 else "dataofs" if bad < 0.03 else ""
    return Send(rng.randrange(slots), kind, seq_off, _off(rng), length, window, extra,
                _options(rng) if kind in ("syn", "any") or rng.random() < 0.05 else (), malformed)


def random_op(rng: random.Random, slots: int) -> Op:
    """A random operation: mostly segments, then time passing, application calls and departures."""
    pick = rng.random()
    if pick < 0.80:
        return random_send(rng, slots)
    if pick < 0.90:
        return Wait(rng.choice([0.001, 0.01, 0.1, 0.25, 1.0, 3.0]) if rng.random() < 0.95 else rng.uniform(10, 200))
    if pick < 0.985:
        action = rng.choice(["write", "write", "read", "read", "shutdown", "close", "listen"])
        n = rng.choice([0, 70000, 8000, rng.randrange(1, 65536)]) if action == "listen" else rng.randrange(0, 5000)
        return App(rng.randrange(slots), action, n)  # type: ignore[arg-type]
    return Leave(rng.randrange(slots), rng.choice(["rst", "forget", "forget", "silent"]))
