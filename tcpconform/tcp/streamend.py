"""How the application learns the way its peer ended the stream (RFC 9293 3.6, MUST-12): the words
every layer uses for it, from the reference responder to the agents and the engine."""

from __future__ import annotations

from typing import Literal

ReadEnd = Literal["eof", "reset", "open"]
"""What one read of the application tells: end of file (the peer's FIN, every octet before it read),
a failure with connection reset (the peer's RST), or neither yet."""
