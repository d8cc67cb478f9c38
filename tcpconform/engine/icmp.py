"""The ``icmp`` step: an ICMP(v6) error about one of the target's segments, as a router on the path sends it.

The error comes from the tester's own address (a router's would do as well: a TCP matches an error
to its connection by the quoted segment, never by who sent it) and quotes the target's last segment
on the case's connection, or one the case describes in the target's numbering, its sequence number
moved by the step's ``seq`` offset.

A packet-too-big whose quoted sequence number a conformant target must accept (RFC 5927 4.1: within
SND.UNA..SND.NXT, as far as the tester can tell: from its last acknowledgment to the end of the
target's data it saw) lowers what the ``mss`` invariant allows from then on, to the announced MTU (or
the family's floor, :func:`tcpconform.tcp.icmp.path_mss`) less the headers: every later segment must
fit the path.  One quoting a number outside that range, or its very end (Linux accepts SND.NXT, RFC
5927 and BSD do not), changes nothing the tester judges by: either answer is conformant there.
"""

from __future__ import annotations

from typing import Any

from tcpconform.cases.model import IcmpStep, OptionsSpec, SegmentSpec
from tcpconform.engine.env import StepEnv
from tcpconform.engine.matching import check_invariants
from tcpconform.engine.outcome import CaseError, CaseUnobservable, StepFailed
from tcpconform.engine.waits import Waiting
from tcpconform.links.base import Received
from tcpconform.results import Mismatch, StepResult
from tcpconform.tcp import seqnum
from tcpconform.tcp.icmp import MIN_MTU, IcmpError, kind_of, path_mss
from tcpconform.tcp.payload import stream_bytes
from tcpconform.tcp.segment import Flags, Segment, is_ipv6

__all__ = ["icmp_fields", "send_error"]


def icmp_fields(msg: IcmpError) -> dict[str, Any]:
    """The error as ``results.json`` records it among the case's segments."""
    type_, code = msg.type_code
    return {"icmp": msg.kind, "type": type_, "code": code, "mtu": msg.mtu, "quoted_seq": msg.quoted.seq,
            "quoted_len": len(msg.quoted.payload)}


def _last_from_target(env: StepEnv) -> tuple[Segment, bytes | None]:
    """The target's last segment on the connection, with its frame when the link saw one."""
    for record in reversed(env.result.segments):
        if record.direction == "in" and isinstance(record.segment, Segment):
            return record.segment, record.frame
    raise CaseError("icmp quote: last needs a segment from the target first")


def _fragmentable(frame: bytes | None) -> bool:
    """An IPv4 frame whose Don't Fragment bit is clear: its sender does no path MTU discovery (RFC 1191
    leaves it to the host), and a router fragments what it sends, so a frag-needed about it means
    nothing.  Unknown (no frame: in-process) counts as DF set."""
    return frame is not None and len(frame) >= 34 and frame[12:14] == b"\x08\x00" and not frame[20] & 0x40


def _described(env: StepEnv, spec: SegmentSpec) -> Segment:
    """The target's segment ``spec`` describes (target numbering for seq, the tester's for ack)."""
    conn, key = env.conn, env.key
    if not isinstance(spec.flags, Flags):
        raise CaseError("an icmp quote needs explicit flags")
    if spec.seq is not None:
        seq = conn.target_wire(conn.resolve_send(spec.seq, "seq"))
    elif conn.target_high is not None:
        seq = conn.target_high
    else:
        raise CaseError("an icmp quote without seq needs a segment from the target first")
    ack = conn.tester_wire(conn.resolve_send(spec.ack, "ack")) if spec.ack is not None else conn.snd_nxt
    window = conn.resolve_send(spec.window, "window") if spec.window is not None else conn.last_window or 0
    length = conn.resolve_send(spec.length, "len") if spec.length is not None else 0
    payload = spec.payload
    if payload is None:
        first = seqnum.add(conn.target_isn, 1) if conn.target_isn is not None else seq
        payload = stream_bytes(max(seqnum.diff(seq, first), 0), length, env.target.data_salt or 0) if length else b""
    options: tuple[tuple[str, object], ...] = ()
    if isinstance(spec.options, OptionsSpec):
        options = tuple((o.kind, o.value if o.value is None or isinstance(o.value, bytes)
                               else conn.resolve_send(o.value, o.kind)) for o in spec.options.items
                        if not isinstance(o.value, tuple))  # what a quote needs is the header, not its timestamps
    return Segment(key.dst, key.src, key.dport, key.sport, seq=seq, ack=ack, flags=spec.flags, window=window,
                   options=options, payload=payload)


def _target_snd_una(env: StepEnv) -> int | None:
    """The target's SND.UNA as the tester can tell it: the acknowledgment it last sent, else (nothing
    acknowledged yet) the target's ISS."""
    for record in reversed(env.result.segments):
        seg = record.segment
        if record.direction == "out" and isinstance(seg, Segment) and seg.flags & Flags.ACK:
            return seg.ack
    return env.conn.target_isn


def _arrived_before(env: StepEnv, got: Received, sres: StepResult) -> None:
    """A segment that came before the error left is judged as what it is, sent before it: by the
    invariants as they stood (the path it went on was the old one), and never an answer to it."""
    idx = env.record("in", got.segment, got.at, sres.index, "before the ICMP error", frame=got.frame)
    sres.observed.append(idx)
    broken = check_invariants(got.segment, env.conn, env.case.invariants, got.checksum)
    if broken:
        names = ", ".join(name for name, _ in broken)
        raise StepFailed(f"segment {env.result.segments[idx].summary} breaks {names}",
                         [Mismatch(f"{m.field} ({name})", m.expected, m.actual) for name, m in broken],
                         requirement=broken[0][0])
    env.conn.note_received(got.segment)


def send_error(env: StepEnv, step: IcmpStep, sres: StepResult) -> Waiting[None]:
    quoted, frame = _last_from_target(env)
    if step.quote is not None:
        quoted = _described(env, step.quote)
    if kind_of(step.kind).effect == "pmtu" and _fragmentable(frame):
        raise CaseUnobservable("the target's IPv4 segments do not set Don't Fragment: it does no path MTU "
                               "discovery (RFC 1191 leaves that to it), so a frag-needed changes nothing it must do")
    if step.seq_offset:
        quoted = quoted.with_(seq=seqnum.add(quoted.seq, step.seq_offset))
    now = env.link.now()
    while (got := (yield from env.next(now))) is not None:
        _arrived_before(env, got, sres)
    ipv6 = is_ipv6(env.key.src)
    mtu = MIN_MTU[ipv6] if step.mtu == "minimum" else step.mtu or 0
    msg = IcmpError(env.key.src, env.key.dst, step.kind, quoted, mtu)
    conn, note = env.conn, ""
    una, high = _target_snd_una(env), conn.target_high
    in_window = una is not None and high is not None and seqnum.le(una, quoted.seq) and seqnum.lt(quoted.seq, high)
    limit = path_mss(mtu, ipv6)
    if kind_of(step.kind).effect == "pmtu" and len(quoted.payload) <= limit:
        raise CaseUnobservable(f"the quoted segment's {len(quoted.payload)} bytes already fit the path announced "
                               f"({limit} bytes of data): whether the target takes the error or not, nothing shows "
                               "(a path MTU it learnt before, in an earlier case or run, lasts minutes)")
    if kind_of(step.kind).effect == "pmtu" and in_window:
        if limit < conn.mss_offered:
            conn.mss_offered = limit
            note = f"from now on every segment must fit the path: at most {limit} bytes of data"
    elif not in_window:
        note = "its quoted sequence number is outside SND.UNA..SND.NXT as the tester saw them (RFC 5927 4.1)"
    sent = env.link.send_icmp(msg)
    env.record("out", msg, sent.at, sres.index, note, frame=sent.frame)
    env.t_ref = env.t_sent = sent.at
