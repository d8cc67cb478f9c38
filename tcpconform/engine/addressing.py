"""Which addresses a case's connection joins: the target's second one (``address: second``), or a
group address on the tester's side (``peer: multicast | broadcast``); and the check that a target's
segment came from the address its connection is on.

- ``address: second`` puts the target's second address (``Target.alt_ip``) in the case's 4-tuple:
  the tester's SYN goes there, an active open binds it.  The case also owns the same 4-tuple with
  the target's first address, so a target that answers from that one (taking the source from its
  routing table, not from the connection: RFC 9293 3.9.1.1, MUST-45) is seen doing it, and the
  expect step it answers fails on the address (:func:`source_mismatches`), rather than seeing
  nothing.  Without a second address the case cannot be run: it is skipped, with the reason.
- ``address: unbound``: the target's application connects with the port alone bound, so IP chooses
  the source (MUST-44).  The case's 4-tuple starts on the target's first address; it owns the same
  with the second address and with the unspecified one, and the target's first SYN moves it to the
  second address if it came from there (:func:`followed`): either is one of the target's own, and
  every later segment must keep it (MUST-45).  A SYN from the unspecified address fails on its
  source.  It needs the second address known, for a SYN from it to be told from a stranger's.
- ``peer: multicast`` / ``peer: broadcast`` puts 224.0.0.1 / ff02::1, or the target's subnet
  broadcast, on the tester's side: the target's application is asked to connect there, which it
  must refuse (MUST-46).  A SYN it sent anyway goes to that address; a wire link shows every TCP
  segment from the target's address that reaches the tester's interface, whatever its destination
  (a group's frame reaches every host of the link), so the case owns that 4-tuple and sees it.
"""

from __future__ import annotations

from tcpconform.cases.model import TestCase
from tcpconform.results import Mismatch
from tcpconform.targets.base import Target
from tcpconform.tcp.ip import named_address
from tcpconform.tcp.segment import Flags, FourTuple, Segment, is_ipv6

PEERS = {"multicast": "multicast", "broadcast": "subnet-broadcast"}
"""A case's ``peer`` as the address name it stands for (:func:`tcpconform.tcp.ip.named_address`)."""


def case_key(case: TestCase, tester_ip: str, sport: int, target: Target, port: int) -> FourTuple:
    """The case's first 4-tuple, tester to target, with the addresses its ``address`` and ``peer`` ask for."""
    dst = target.ip
    if case.address == "second" and target.alt_ip is not None:
        dst = target.alt_ip
    src = tester_ip
    if case.peer is not None:
        src = named_address(PEERS[case.peer], target.ip, is_ipv6(target.ip))
    return FourTuple(src, sport, dst, port)


def unavailable(case: TestCase, target: Target) -> str | None:
    """Why the case cannot run on ``target`` for want of an address (``None``: it can)."""
    if case.address is not None and target.alt_ip is None:
        return (f"the case is about a target with two addresses, and {target.name} has no second one known "
                "(give it with --target-alt; the lab's targets have one)")
    return None


def extra_keys(case: TestCase, key: FourTuple, target: Target) -> list[FourTuple]:
    """The 4-tuples besides ``key`` the case owns for its addresses: with ``address: second``,
    ``key`` with the target's first address, where a wrong answer comes from; with ``unbound``,
    ``key`` with the second address and with the unspecified one."""
    if case.address == "second" and key.dst != target.ip:
        return [FourTuple(key.src, key.sport, target.ip, key.dport)]
    if case.address == "unbound" and target.alt_ip is not None:
        zero = "::" if is_ipv6(key.dst) else "0.0.0.0"
        return [FourTuple(key.src, key.sport, target.alt_ip, key.dport), FourTuple(key.src, key.sport, zero, key.dport)]
    return []


def followed(case: TestCase, key: FourTuple, seg: Segment, target: Target, synced: bool) -> FourTuple | None:
    """With ``address: unbound``, the 4-tuple the connection is on once the target's first SYN
    (before it, ``synced`` False) came from its second address; ``None``: it stays on ``key``."""
    if case.address != "unbound" or synced or not seg.flags & Flags.SYN or seg.src != target.alt_ip:
        return None
    return FourTuple(key.src, key.sport, seg.src, key.dport)


def source_mismatches(seg: Segment, key: FourTuple) -> list[Mismatch]:
    """A target's segment on connection ``key`` must come from the address the connection is on."""
    if seg.src == key.dst:
        return []
    return [Mismatch("IP source", f"{key.dst} (the connection's local address at the target)", seg.src)]
