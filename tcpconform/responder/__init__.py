"""The reference responder: a deterministic, sans-I/O TCP server (RFC 9293) to run test cases against.

It is the target a run uses when no real stack is at hand, and the yardstick that proves the test
cases themselves: with its faults (:data:`FAULTS`) switched on, the cases naming a fault must fail.

Typical use::

    r = Responder(ResponderConfig())          # the seed defaults: listens on 192.0.2.2:8000
    r.handle_segment(syn, now=0.0)
    for seg in r.segments_to_send(): ...       # the SYN-ACK
    for ev in r.next_events(): ...             # StateChanged(LISTEN -> SYN_RCVD)
"""

from tcpconform.responder.config import AppConfig, ResponderConfig
from tcpconform.responder.connection import ResponderError
from tcpconform.responder.events import AppAction, ConnectionReset, DataReceived, Event, StateChanged, listen_key
from tcpconform.responder.faults import FAULTS, describe
from tcpconform.responder.host import Responder
from tcpconform.responder.sockopts import UnsupportedOption
from tcpconform.responder.states import TRANSITIONS, IllegalTransition, Trigger, next_state

__all__ = [
    "FAULTS",
    "TRANSITIONS",
    "AppAction",
    "AppConfig",
    "ConnectionReset",
    "DataReceived",
    "Event",
    "IllegalTransition",
    "Responder",
    "ResponderConfig",
    "ResponderError",
    "StateChanged",
    "Trigger",
    "UnsupportedOption",
    "describe",
    "listen_key",
    "next_state",
]
