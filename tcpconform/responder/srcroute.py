"""Source-routed connections (RFC 9293 3.9.2.1; RFC 1122 3.3.5, 4.2.3.8), and the faults that get
them wrong (``source-route-ignored``, ``source-route-echoed``, ``source-route-first-kept``,
``app-route-ignored``, ``received-route-overrides-app``: :mod:`.faults`).

- A connection opened passively by a SYN carrying a completed source route (LSRR or SSRR, every
  address used) saves the return route and sends every segment with it (MUST-53): to the last
  recorded hop, the option listing the other hops reversed and then the peer
  (:func:`~tcpconform.tcp.srcroute.return_route`).
- A completed route on a later segment of the connection replaces the saved one (SHLD-24), whether
  or not the SYN had one.
- An active open the application gave a source route (MUST-51) sends every segment on it: to its
  first hop, the option listing the other hops and then the peer, pointer 4 (RFC 791 3.1; RFC 1122
  3.3.5).  A completed route received on that connection never replaces it (MUST-52).
- A SYN without a route opens a connection without one; a new connection on the same 4-tuple never
  inherits an old one's route: each route is kept with the connection it belongs to.

The responder accepts source-routed datagrams, as RFC 1122 3.3.5 let a host; Linux and FreeBSD drop
them by default (RFC 7126 4.3, 4.4), which the cases take as unobservable, not as a failure.
"""

from __future__ import annotations

from dataclasses import replace

from tcpconform.tcp.ip import IpHeader
from tcpconform.tcp.segment import Flags, FourTuple, Segment
from tcpconform.tcp.srcroute import FRESH_POINTER, LSRR, SourceRoute, read_route, return_route, route_option


class SourceRoutes:
    """The return route of each connection that has one, kept with the connection object itself,
    so a later connection on the same 4-tuple starts without it."""

    def __init__(self, faults: frozenset[str]) -> None:
        self._faults = faults
        self._routes: dict[FourTuple, tuple[object, tuple[str, bytes]]] = {}
        self._chosen: dict[FourTuple, object] = {}
        """The connections whose route their application chose (MUST-51), by responder-side key."""

    def chosen(self, key: FourTuple, conn: object, hops: tuple[str, ...]) -> None:
        """The application of the active open ``conn`` (responder-side ``key``) gave the route
        ``hops`` (first hop first; the peer, ``key.dst``, is its final destination)."""
        self._chosen.pop(key, None)
        self._routes.pop(key, None)
        if not hops or "app-route-ignored" in self._faults:
            return
        self._routes[key] = (conn, (hops[0], route_option(LSRR, FRESH_POINTER, (*hops[1:], key.dst))))
        if "received-route-overrides-app" not in self._faults:
            self._chosen[key] = conn

    def heard(self, key: FourTuple, seg: Segment, conn: object | None) -> None:
        """``seg`` reached connection ``conn`` (responder-side ``key``; ``None``: no connection
        now).  A SYN opening a connection sets its route (or none); a later completed route replaces it."""
        kept = self._routes.get(key)
        if conn is None:
            self._routes.pop(key, None)
            self._chosen.pop(key, None)
            return
        if self._chosen.get(key) is conn:
            return  # the application's route overrides any received (MUST-52)
        route = _completed(seg)
        if kept is None or kept[0] is not conn:
            self._routes.pop(key, None)
            if route is not None and seg.flags & Flags.SYN and "source-route-ignored" not in self._faults:
                self._routes[key] = (conn, self._return(route, seg.src))
            return
        if route is not None and "source-route-first-kept" not in self._faults:
            self._routes[key] = (conn, self._return(route, seg.src))

    def _return(self, route: SourceRoute, origin: str) -> tuple[str, bytes]:
        if "source-route-echoed" in self._faults:
            return origin, route_option(route.kind, route.pointer, route.addresses)
        return return_route(route, origin)

    def routed(self, seg: Segment, conn: object | None) -> Segment:
        """``seg`` as it leaves: with its connection's return route, if it has one, sent to the
        route's first hop, the segment's other IP fields kept."""
        kept = self._routes.get(seg.key)
        if kept is None or conn is None or kept[0] is not conn:
            return seg
        hop, option = kept[1]
        ip = seg.ip or IpHeader()
        return seg.with_(dst=hop, ip=replace(ip, options=option + ip.options))


def _completed(seg: Segment) -> SourceRoute | None:
    """The completed source route ``seg``'s IPv4 options carry, if any."""
    if seg.ip is None or not seg.ip.options:
        return None
    route = read_route(seg.ip.options)
    return route if route is not None and route.completed else None
