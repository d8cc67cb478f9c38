"""Target profiles: what a conformant stack may choose, and what this target is expected to choose.

A case never hard-codes a value that RFC 9293 leaves to the stack (ISN, advertised window,
options).  It writes ``$isn`` or ``$window`` instead, and the profile decides: the ``reference``
profile pins the bundled responder's window (65535) so it is asserted, and captures its ISN (chosen
per connection as RFC 6528 says, so no profile can know it in advance); the
``generic`` profile leaves them open (``*``), so the first observed value is captured and every
later use must agree with it.  The same case file thus runs unchanged against any stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tcpconform.cases.model import ANY, FieldSpec


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    values: dict[str, FieldSpec] = field(default_factory=dict)
    within: float = 1.0
    """Default time bound of an expect step that gives none, in seconds."""


PROFILES: dict[str, Profile] = {
    "reference": Profile(
        "reference",
        "the bundled reference responder: window 65535, ISN captured (RFC 6528, per connection)",
        {"isn": ANY, "window": 65535},
    ),
    "generic": Profile(
        "generic",
        "any conformant stack: ISN and window are captured, the rules still asserted",
        {"isn": ANY, "window": ANY},
    ),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r} (known: {', '.join(sorted(PROFILES))})") from None
