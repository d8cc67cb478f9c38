"""Bytes <-> segments, with ``struct`` and no sockets.

Layer by layer (:mod:`.ethernet`, :mod:`.ip`, :mod:`.tcp` with :mod:`.checksum`, :mod:`.arp`,
:mod:`.ndp`), each module building and reading its own header; :mod:`.frame` puts them together
into whole Ethernet frames.  Option names and values are :mod:`tcpconform.tcp.options`'s, value-less
options (``NOP``, ``EOL``, ``SAckOK``) carrying ``None``.
"""

from tcpconform.wire.arp import encode_arp
from tcpconform.wire.frame import decode, encode, tcp_segment

__all__ = ["decode", "encode", "encode_arp", "tcp_segment"]
