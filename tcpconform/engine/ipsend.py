"""A send step's ``ip`` modifier applied to its segment, the connections a spoofed one opens, and
an expect step's ``ip`` modifier judged against what arrived.

A segment from a spoofed source (a martian, the target's own address and port) or to a group
address draws, from a faulty target, an answer on a 4-tuple that is not the case's: the case owns
that 4-tuple too (:func:`spoofed_keys`), so any such answer the link admits reaches it and breaks
its silence.  A wire link admits every TCP segment from the target that reaches the tester's
interface, whatever its destination (a stack that answers a broadcast source broadcasts, one that
answers 127.0.0.1 to the sender's MAC is seen); an answer a stack routes to itself (to 127.0.0.1,
or to its own address) never reaches a wire, so the cases that send such segments end with a
handshake on a fresh port, which shows the target still serves.
"""

from __future__ import annotations

from collections.abc import Callable

from tcpconform.cases.model import ExpectStep, IpExpect, IpSpec, TestCase
from tcpconform.engine.addressing import source_mismatches
from tcpconform.engine.env import StepEnv
from tcpconform.engine.outcome import CaseUnobservable, StepFailed
from tcpconform.engine.waits import Waiting
from tcpconform.links.base import Received
from tcpconform.results import Mismatch, StepResult
from tcpconform.tcp.ip import IpHeader, named_address
from tcpconform.tcp.segment import FourTuple, Segment, is_ipv6
from tcpconform.tcp.srcroute import FRESH_POINTER, completed_route, read_route
from tcpconform.wire.ip import HOP_LIMIT, header_fields


def resolve(name: str, key: FourTuple) -> str:
    """The address ``name`` stands for on the connection ``key`` (tester to target); an address
    of the other family than the run's cannot be sent: the case is skipped, with the reason."""
    ipv6 = is_ipv6(key.dst)
    address = named_address(name, key.dst, ipv6)
    if is_ipv6(address) != ipv6:
        raise CaseUnobservable(f"the address {address} is not of the run's family ({'IPv6' if ipv6 else 'IPv4'})")
    return address


def with_ip(seg: Segment, spec: IpSpec, target_port: int) -> Segment:
    """``seg`` with the addresses, source port, TTL, TOS and options ``spec`` gives, for its family."""
    key = seg.key
    src = resolve(spec.src, key) if spec.src is not None else seg.src
    dst = resolve(spec.dst, key) if spec.dst is not None else seg.dst
    ipv6 = is_ipv6(key.dst)
    options = spec.options
    if spec.source_route is not None:
        if ipv6:
            raise CaseUnobservable("IPv6 has no source route to send (RFC 5095 removed type 0 routing headers)")
        options += completed_route(route_addresses(spec.source_route, key))
    header = IpHeader(spec.ttl, spec.tos, b"" if ipv6 else options, spec.dest_options if ipv6 else None,
                      spec.length_delta)
    plain = header == IpHeader()
    return seg.with_(src=src, dst=dst, sport=target_port if spec.sport == "target" else seg.sport,
                     ip=None if plain else header)


def route_addresses(names: tuple[str, ...], key: FourTuple) -> tuple[str, ...]:
    """The addresses of a source route given as ``tester``, ``target`` or addresses, on the
    connection ``key`` (tester to target)."""
    return tuple(key.src if name == "tester" else key.dst if name == "target" else name for name in names)


def app_route(names: tuple[str, ...], key: FourTuple) -> tuple[str, ...]:
    """The addresses of the source route a case has the target's application set (``route``: the
    hops before the destination, the tester); over IPv6, which has none since RFC 5095, the case is
    skipped, with the reason."""
    if is_ipv6(key.dst):
        raise CaseUnobservable("IPv6 has no source route to set (RFC 5095 removed type 0 routing headers)")
    return route_addresses(names, key)


def described(seg: Segment, spec: IpSpec) -> str:
    """What the ``ip`` modifier made of ``seg``'s IP header, for the exchange's note on it."""
    parts = []
    if spec.src is not None or spec.sport is not None:
        parts.append(f"from {seg.src} port {seg.sport}")
    if spec.dst is not None:
        parts.append(f"to {seg.dst}")
    ip = seg.ip
    if ip is not None:
        if ip.ttl is not None:
            parts.append(f"TTL {ip.ttl}")
        if ip.tos is not None:
            parts.append(f"TOS {ip.tos:#04x}")
        if ip.options:
            route = read_route(ip.options)
            parts.append(f"IP options {ip.options.hex()}" + (f" ({route.describe()})" if route is not None else ""))
        if ip.dest_options is not None:
            parts.append(f"destination options {ip.dest_options.hex() or '(none)'}")
        if ip.length_delta:
            parts.append(f"length field {ip.length_delta:+d} off the datagram's")
    return "IP: " + ", ".join(parts) if parts else ""


def spoofed_keys(case: TestCase, key: FourTuple) -> list[FourTuple]:
    """The 4-tuples, as the tester would own them, of the segments ``case`` sends with other
    addresses or ports than ``key``'s: where a faulty target's answer to each would come back."""
    out: list[FourTuple] = []
    for step in case.steps:
        spec = getattr(step, "ip", None)  # the modifier, on whichever step kind carries one
        if not isinstance(spec, IpSpec):
            continue
        try:
            src = resolve(spec.src, key) if spec.src is not None else key.src
            dst = resolve(spec.dst, key) if spec.dst is not None else key.dst
        except CaseUnobservable:
            continue  # the step skips the case when it comes to it
        sport = key.dport if spec.sport == "target" else key.sport
        for spoofed in (FourTuple(src, sport, dst, key.dport), FourTuple(src, sport, key.dst, key.dport)):
            if spoofed != key and spoofed not in out:
                out.append(spoofed)
    return out


def received_fields(got: Received) -> tuple[int, int]:
    """The TTL and TOS of the IP header ``got`` came in: its frame's when the link has frames, else
    the segment's own (an in-process peer's, whose defaults are what its frame would carry)."""
    header = header_fields(got.frame) if got.frame is not None else got.segment.ip
    ttl = header.ttl if header is not None and header.ttl is not None else HOP_LIMIT
    tos = header.tos if header is not None and header.tos is not None else 0
    return ttl, tos


def ip_mismatches(want: IpExpect | None, got: Received, key: FourTuple) -> list[Mismatch]:
    """How ``got``'s IP header differs from what an expect step's ``ip`` asks (``None``: nothing),
    and from the source address of connection ``key`` (:func:`source_mismatches`).  TOS is compared
    without its two ECN bits, which TCP sets per segment (RFC 3168 6.1)."""
    out = source_mismatches(got.segment, key)
    if want is None:
        return out
    ttl, tos = received_fields(got)
    if want.ttl is not None and ttl != want.ttl:
        out.append(Mismatch("IP TTL", str(want.ttl), str(ttl)))
    if want.tos is not None and tos & 0xFC != want.tos & 0xFC:
        out.append(Mismatch("IP TOS", f"{want.tos & 0xFC:#04x} (ECN bits aside)", f"{tos:#04x}"))
    if want.ecn is not None and tos & 3 not in ECN_CODEPOINTS[want.ecn]:
        out.append(Mismatch("IP ECN", want.ecn, ECN_NAMES[tos & 3]))
    if want.source_route is not None:
        out.extend(_route_mismatches(route_addresses(want.source_route, key), got.segment))
    return out


def _route_mismatches(hops: tuple[str, ...], seg: Segment) -> list[Mismatch]:
    """How ``seg``'s source route differs from a fresh one (pointer 4) over ``hops``: the return
    route RFC 1122 3.3.5 builds, or an application's route as its originator sends it (RFC 791 3.1).
    LSRR and SSRR both pass: the path is the same hops either way."""
    route = read_route(seg.ip.options) if seg.ip is not None else None
    want = f"LSRR or SSRR [{', '.join(hops)}] pointer {FRESH_POINTER}"
    if route is None:
        return [Mismatch("IP source route", want, "none")]
    if route.addresses != hops or route.pointer != FRESH_POINTER:
        return [Mismatch("IP source route", want, route.describe())]
    return []


Handler = Callable[[StepEnv, ExpectStep, StepResult], Waiting[None]]


def route_skips(run: Handler) -> Handler:
    """``run`` (the expect step's handler), except that an expect of a source route that nothing at
    all answered skips the case when the target has answered no segment the tester sent with a
    route: its source-routed SYN (RFC 9293 MUST-53's), or a routed segment on a connection the
    target opened itself (MUST-52's).  The target drops source-routed datagrams, as Linux
    (accept_source_route 0) and FreeBSD do by default and as RFC 7126 4.3 / 4.4 advise, and a target
    that did not take the route cannot show what it would do with it.  A segment that came, silence
    after the target answered a routed segment, and silence where the tester sent no route (an
    active open's SYN on the application's route, MUST-51) are judged as ever."""
    def wrapped(env: StepEnv, step: ExpectStep, sres: StepResult) -> Waiting[None]:
        routed = step.ip is not None and step.ip.source_route is not None and _route_unanswered(env)
        before = len(env.result.segments)
        try:
            yield from run(env, step, sres)
        except StepFailed:
            if routed and len(env.result.segments) == before:
                raise CaseUnobservable("nothing answered the source-routed segment: the target drops source-routed "
                                       "datagrams (as Linux, accept_source_route 0, and FreeBSD do by default, and "
                                       "RFC 7126 4.3 / 4.4 advise), so what it does with a route cannot be seen") from None
            raise
    return wrapped


def _route_unanswered(env: StepEnv) -> bool:
    """The tester sent a segment with a source route on the case's connection and the target has
    sent nothing since the first one."""
    records = env.result.segments
    for i, record in enumerate(records):
        seg = record.segment
        if (record.direction == "out" and isinstance(seg, Segment) and seg.ip is not None
                and read_route(seg.ip.options) is not None):
            return not any(later.direction == "in" for later in records[i + 1:])
    return False


ECN_CODEPOINTS = {"not-ect": (0,), "ect": (1, 2), "ect0": (2,), "ect1": (1,), "ce": (3,)}
"""The ECN field's values (RFC 3168 5) each name of an expect step's ``ip: {ecn: ...}`` allows."""
ECN_NAMES = {0: "not-ect", 1: "ect1", 2: "ect0", 3: "ce"}
