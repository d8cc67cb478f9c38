"""Source routes as the tester builds and reads them (RFC 791 3.1, RFC 1122 3.3.5): any completed
route reads back as sent; its return route lists the recorded hops reversed, then the sender, and
goes to the last hop; and a segment on a return route crosses the wire encoder and decoder with its
option and a right checksum (its final destination is its IP destination, the return route's last
address)."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from tcpconform.tcp.ip import IpHeader
from tcpconform.tcp.segment import Flags, Segment
from tcpconform.tcp.srcroute import LSRR, SSRR, completed_route, read_route, return_route
from tcpconform.wire.frame import encode, tcp_segment

ADDRESS = st.integers(0x01000000, 0xDFFFFFFF).map(lambda n: str(ipaddress.IPv4Address(n)))
HOPS = st.lists(ADDRESS, min_size=1, max_size=9).map(tuple)
KIND = st.sampled_from([LSRR, SSRR])


@given(HOPS, KIND, ADDRESS)
def test_a_completed_route_reads_back_and_reverses(hops: tuple[str, ...], kind: int, origin: str) -> None:
    route = read_route(completed_route(hops, kind))
    assert route is not None and route.completed and (route.kind, route.addresses) == (kind, hops)
    hop, option = return_route(route, origin)
    back = read_route(option)
    assert hop == hops[-1] and back is not None and not back.completed
    assert back.kind == kind and back.pointer == 4 and back.addresses == (*reversed(hops[:-1]), origin)


@given(HOPS, ADDRESS)
def test_a_segment_on_a_return_route_crosses_the_wire_with_its_option(hops: tuple[str, ...], target: str) -> None:
    route = read_route(completed_route(hops))
    assert route is not None
    tester = hops[-1]  # recorded last over the tester: the return route starts and ends there
    hop, option = return_route(route, tester)
    seg = Segment(target, hop, 8000, 40000, seq=7, ack=1, flags=Flags.SYN | Flags.ACK, ip=IpHeader(options=option))
    got = tcp_segment(encode(seg))
    assert got is not None and got[1], "checksum"
    assert got[0].ip is not None and got[0].ip.options == option and got[0].dst == tester
