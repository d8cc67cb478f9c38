"""Test helpers: a hand-driven peer, and functions that drive a fresh responder into each state.

Numbers follow the seed: the peer's ISN is 0, the responder's 100, the peer offers MSS 512 and a
window of 5000.  Each ``to_*`` function returns a :class:`Peer` whose ``seq`` is the next sequence
number the peer would send (the responder's RCV.NXT) and whose ``ack`` is everything the responder has
sent (its SND.NXT); ``fin`` is the sequence number of the peer's FIN once it sent one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tcpconform.responder import AppConfig, Event, Responder, ResponderConfig, StateChanged
from tcpconform.tcp.payload import TESTER_SALT, stream_bytes
from tcpconform.tcp.segment import Flags, FourTuple, Segment
from tcpconform.tcp.states import State

PEER_IP = "192.0.2.1"
PEER_PORT = 40000
IP = "192.0.2.2"
PORT = 8000

F = Flags


def agent_config(**kw: object) -> ResponderConfig:
    """The responder with the seed's ISN pinned (its default is RFC 6528's), so numbers read as the seed's."""
    kw.setdefault("isn", 100)
    return ResponderConfig(app=AppConfig(mode="agent"), **kw)  # type: ignore[arg-type]


@dataclass
class Peer:
    """The tester's side of one connection, driven by hand."""

    r: Responder
    seq: int = 0
    ack: int = 0
    fin: int | None = None
    now: float = 0.0
    port: int = PEER_PORT
    window: int = 5000
    sent: list[Segment] = field(default_factory=list)
    """Everything the responder emitted so far (drained after every step)."""
    events: list[Event] = field(default_factory=list)

    @property
    def key(self) -> FourTuple:
        """The connection as the responder names it."""
        return FourTuple(IP, PORT, PEER_IP, self.port)

    def segment(
        self, flags: Flags, seq: int | None = None, ack: int | None = None, payload: bytes = b"",
        window: int | None = None, options: tuple = (),
    ) -> Segment:
        return Segment(
            src=PEER_IP, dst=IP, sport=self.port, dport=PORT,
            seq=self.seq if seq is None else seq & 0xFFFFFFFF,
            ack=(self.ack if ack is None else ack & 0xFFFFFFFF) if flags & F.ACK else 0,
            flags=flags, window=self.window if window is None else window, options=options, payload=payload,
        )

    def send(self, seg: Segment, at: float | None = None) -> list[Segment]:
        """Hand ``seg`` to the responder at time ``at``; return what it emitted in response."""
        if at is not None:
            self.now = at
        self.r.handle_segment(seg, self.now)
        return self.drain()

    def tick(self, at: float) -> list[Segment]:
        """Advance the clock to ``at`` and run the responder's timers if due."""
        self.now = at
        timer = self.r.get_timer()
        if timer is not None and timer <= at:
            self.r.handle_timer(at)
        return self.drain()

    def run_timers_until(self, end: float) -> list[tuple[float, Segment]]:
        """Fire every timer up to ``end`` exactly when it is due; the segments with their times."""
        out: list[tuple[float, Segment]] = []
        while (t := self.r.get_timer()) is not None and t <= end:
            self.now = t
            self.r.handle_timer(t)
            out += [(t, s) for s in self.drain()]
        self.now = end
        return out

    def drain(self) -> list[Segment]:
        out = self.r.segments_to_send()
        self.sent += out
        self.events += self.r.next_events()
        return out

    def data(self, n: int, at: float | None = None) -> list[Segment]:
        """Send ``n`` bytes of the tester stream in order and advance ``seq``."""
        payload = stream_bytes(self.seq - 1, n, TESTER_SALT)
        out = self.send(self.segment(F.ACK | F.PSH, payload=payload), at)
        self.seq += n
        return out

    def states(self) -> list[tuple[State, State]]:
        return [(e.old, e.new) for e in self.events if isinstance(e, StateChanged) and e.key == self.key]


def agent_established(faults: set[str] | frozenset[str] = frozenset(), window: int = 5000,
                      options: tuple[tuple[str, object], ...] = (("MSS", 512),)) -> Peer:
    """A responder in agent mode listening on 8000, and a peer whose handshake (SYN with ``options``,
    then the ACK) it completed: RCV.NXT 1 on the peer's side, 101 on the responder's."""
    r = Responder(agent_config(faults=frozenset(faults)))
    r.app_listen(8000, 0.0)
    p = Peer(r, seq=0, ack=5000, window=window)
    p.send(p.segment(F.SYN, seq=0, options=options))
    p.seq, p.ack = 1, 101
    p.send(p.segment(F.ACK))
    return p


def show(segs: list[Segment]) -> list[str]:
    """Compact form for assertions: ``"<flags> <seq> <ack>"`` (ack only when the ACK bit is set)."""
    out = []
    for s in segs:
        text = f"{s.flags.tcpdump()} {s.seq}"
        if s.flags & F.ACK:
            text += f" {s.ack}"
        if s.payload:
            text += f" len={len(s.payload)}"
        out.append(text)
    return out


# --------------------------------------------------------------------------- state drivers


def to_closed() -> Peer:
    """Nothing listens (agent mode, no ``app_listen``)."""
    return Peer(Responder(agent_config()), seq=0, ack=5000)


def to_listen() -> Peer:
    r = Responder(agent_config())
    r.app_listen(PORT, 0.0)
    p = Peer(r, seq=0, ack=5000)
    p.drain()
    return p


def to_syn_rcvd() -> Peer:
    p = to_listen()
    out = p.send(p.segment(F.SYN, seq=0, options=(("MSS", 512),)))
    assert show(out) == ["S. 100 1"]
    p.seq, p.ack = 1, 101
    return p


def to_established() -> Peer:
    p = to_syn_rcvd()
    assert p.send(p.segment(F.ACK)) == []
    assert p.r.state(p.key) is State.ESTABLISHED
    return p


def to_close_wait() -> Peer:
    p = to_established()
    assert show(p.send(p.segment(F.FIN | F.ACK))) == [". 101 2"]
    p.fin, p.seq = 1, 2
    assert p.r.state(p.key) is State.CLOSE_WAIT
    return p


def to_last_ack() -> Peer:
    p = to_close_wait()
    p.r.app_close(p.key, p.now)
    assert show(p.drain()) == ["F. 101 2"]
    p.ack = 102
    assert p.r.state(p.key) is State.LAST_ACK
    return p


def to_fin_wait_1() -> Peer:
    p = to_established()
    p.r.app_close(p.key, p.now)
    assert show(p.drain()) == ["F. 101 1"]
    p.ack = 102
    assert p.r.state(p.key) is State.FIN_WAIT_1
    return p


def to_fin_wait_2() -> Peer:
    p = to_fin_wait_1()
    assert p.send(p.segment(F.ACK)) == []
    assert p.r.state(p.key) is State.FIN_WAIT_2
    return p


def to_closing() -> Peer:
    p = to_fin_wait_1()
    assert show(p.send(p.segment(F.FIN | F.ACK, ack=101))) == [". 102 2"]  # crossed FINs
    p.fin, p.seq = 1, 2
    assert p.r.state(p.key) is State.CLOSING
    return p


def to_time_wait() -> Peer:
    p = to_fin_wait_2()
    assert show(p.send(p.segment(F.FIN | F.ACK))) == [". 102 2"]
    p.fin, p.seq = 1, 2
    assert p.r.state(p.key) is State.TIME_WAIT
    return p


DRIVERS = {
    State.CLOSED: to_closed,
    State.LISTEN: to_listen,
    State.SYN_RCVD: to_syn_rcvd,
    State.ESTABLISHED: to_established,
    State.CLOSE_WAIT: to_close_wait,
    State.LAST_ACK: to_last_ack,
    State.FIN_WAIT_1: to_fin_wait_1,
    State.FIN_WAIT_2: to_fin_wait_2,
    State.CLOSING: to_closing,
    State.TIME_WAIT: to_time_wait,
}
