"""How the reference responder reads the fields a robust stack must take as they come, and the faults
that copy the ways real stacks read them wrong.

Each function is pure (the segment, the configuration, nothing else) so the TCB calls it at the one
point where RFC 9293 decides:

- the urgent pointer (RFC 9293 3.8.5, RFC 6093): the responder keeps urgent data in line, as
  RFC 6093 advises applications to (``SO_OOBINLINE``): its bytes are ordinary data, acknowledged and
  delivered in order whatever the pointer says, beyond the segment's end (MUST-31), at its end, or
  0.  Faults: ``urgent-pointer-crash`` and ``urgent-zero-crash`` wedge the stack (URGENT/11's
  urgent-pointer bugs, CVE-2019-12255 for a pointer of 0); ``urgent-byte-dropped`` takes the last
  urgent byte out before the sequence accounting, so the ACK falls one short.
- the window (MUST-1: an unsigned 16-bit number); fault ``signed-window`` reads it as an int16.
- option alignment (MUST-64: options may begin on any octet); fault ``aligned-options-only`` takes
  an MSS option only where it starts on a 4-octet boundary of the option list.
- ISNs: fault ``lcg-isn`` draws them from a linear congruential generator (:func:`lcg_next`).
- RFC 5961: fault ``syn-any-seq-resets`` resets on a SYN outside the window too (the SYN checked
  before the sequence number); ``old-ack-accepted`` takes the text of a segment whose ACK is older
  than SND.UNA - MAX.SND.WND, as RFC 793 did (a duplicate ACK, ignored, the text processed).
"""

from __future__ import annotations

from tcpconform.responder.config import ResponderConfig
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, Segment
from tcpconform.tcp.states import State
from tcpconform.wire.tcp import Undecodable, encode_options, parse_options

SIGN_BIT = 0x8000
"""The window field's top bit: an int16 reading makes every window from here on negative."""


def urgent_wedges(cfg: ResponderConfig, seg: Segment) -> str | None:
    """Why ``seg``'s urgent pointer wedges the stack under a fault, or ``None``.

    ``urgent-pointer-crash``: a pointer beyond the segment's last octet (urgent data that goes on in
    a later segment, which MUST-31 allows) sends the parser past its buffer.  ``urgent-zero-crash``:
    URG with a pointer of 0 underflows the urgent length (VxWorks IPnet, CVE-2019-12255).
    """
    if not seg.flags & Flags.URG or not seg.payload or seg.flags & (Flags.SYN | Flags.RST):
        return None
    if cfg.has("urgent-pointer-crash") and seg.urgptr > len(seg.payload):
        return "urgent pointer beyond the segment's end (fault urgent-pointer-crash)"
    if cfg.has("urgent-zero-crash") and seg.urgptr == 0:
        return "URG with urgent pointer 0 (fault urgent-zero-crash)"
    return None


MALFORMABLE = ("MSS", "WScale", "Timestamp")
"""Option kinds whose value has one size: a length that is not theirs leaves the value as bytes."""


def as_received(options: tuple[tuple[str, object], ...]) -> tuple[tuple[str, object], ...]:
    """``options`` as the wire delivers them: a peer in this process may hand over raw bytes that
    parse (an option of a known kind, written out), which a wire would have parsed; what does not
    parse stays raw, as on the wire."""
    try:
        return parse_options(encode_options(options))
    except Undecodable:
        return (("raw", encode_options(options)),)


def option_crashes(cfg: ResponderConfig, seg: Segment) -> str | None:
    """Why ``seg``'s options crash the stack under ``crash-on-malformed-option``, or ``None``.

    The option list parses (every length at least 2 and inside the header, so MUST-7's illegal
    lengths are :data:`~tcpconform.responder.faults` ``wedge-on-bad-option``'s), but an option of a
    known kind has a length other than its kind's: the parser reads the value the kind promises.
    """
    if not cfg.has("crash-on-malformed-option"):
        return None
    for kind, value in seg.options:
        if kind in MALFORMABLE and isinstance(value, bytes):
            return f"a {kind} option {len(value) + 2} bytes long (fault crash-on-malformed-option)"
    return None


def listener_slips(cfg: ResponderConfig, seg: Segment) -> bool:
    """Whether ``seg`` to a listening port makes it stop listening (``slip-listen-on-syn-fin``): a SYN
    with FIN and without ACK or RST.  RFC 9293 3.10.7.2 processes the SYN and leaves the FIN for later."""
    both = Flags.SYN | Flags.FIN
    return cfg.has("slip-listen-on-syn-fin") and seg.flags & both == both and not seg.flags & (Flags.ACK | Flags.RST)


def urgent_text(cfg: ResponderConfig, seg: Segment) -> Segment:
    """The segment whose text the receive side takes: ``seg`` itself, the urgent bytes in line.

    Under ``urgent-byte-dropped`` the octet before the urgent pointer, when it lies in this segment,
    is cut out before the sequence accounting (pulled out of band, and RCV.NXT never counts it): the
    ACK then acknowledges one octet less than arrived, and the next segment looks out of order.
    """
    if not cfg.has("urgent-byte-dropped") or not seg.flags & Flags.URG or not 0 < seg.urgptr <= len(seg.payload):
        return seg
    cut = seg.urgptr - 1
    return seg.with_(payload=seg.payload[:cut] + seg.payload[cut + 1:])


def peer_window(cfg: ResponderConfig, window: int) -> int:
    """SND.WND from the window field: unsigned (MUST-1); as an int16 under ``signed-window``, where
    a window of 32768 or more is negative and nothing can be sent into it."""
    if cfg.has("signed-window") and window & SIGN_BIT:
        return window - 0x10000
    return window


def mss_misaligned(cfg: ResponderConfig, syn: Segment) -> bool:
    """Whether fault ``aligned-options-only`` misses the SYN's MSS option: the option does not start
    on a 4-octet boundary of the option list (a parser that steps through the options in 32-bit
    words, as on a word-aligned ``<mss>`` it always finds it)."""
    if not cfg.has("aligned-options-only"):
        return False
    offset = 0
    for option in syn.options:
        if option[0] == "MSS":
            return offset % 4 != 0
        offset += _length(option)
    return False


def _length(option: tuple[str, object]) -> int:
    """The octets ``option`` takes in the list: one for EOL and NOP, else its own length field
    (the encoder pads only the whole list), or all of a verbatim ``raw`` run."""
    kind, value = option
    if kind in ("EOL", "NOP"):
        return 1
    if kind == "raw" and isinstance(value, bytes | bytearray):
        return len(value)
    encoded = encode_options((option,))
    return encoded[1] if len(encoded) > 1 else len(encoded)


def syn_resets_anywhere(cfg: ResponderConfig, seg: Segment, state: State) -> bool:
    """Whether a SYN in a synchronized state resets the connection wherever it lies, the window check
    skipped for it: fault ``syn-any-seq-resets``.  RFC 9293 3.10.7.4's first check answers one
    outside the window with an ACK and drops it, and RFC 5961 4.2 answers any SYN with a challenge ACK."""
    if not cfg.has("syn-any-seq-resets") or not state.synchronized:
        return False
    return bool(seg.flags & Flags.SYN) and not seg.flags & (Flags.RST | Flags.ACK)


def ack_too_old(cfg: ResponderConfig, ack: int, snd_una: int, max_snd_wnd: int) -> bool:
    """Whether ``ack`` is below SND.UNA - MAX.SND.WND, so the segment is dropped with an ACK (RFC 5961
    5.2, RFC 9293 MAY-12).  Never under fault ``old-ack-accepted``: then it is RFC 793's duplicate
    ACK, ignored, and the segment's text is processed."""
    return not cfg.has("old-ack-accepted") and seqnum.lt(ack, seqnum.add(snd_una, -max_snd_wnd))


LCG_A, LCG_C = 1103515245, 12345
"""The multiplier and increment of the C library's classic ``rand()`` (ANSI C's example), modulo
2^32: the kind of generator NUMBER:JACK (2021) found feeding ISNs in embedded stacks."""
LCG_SEED = 0x2545F491
"""Where the fault ``lcg-isn``'s generator starts (fixed: the responder stays reproducible)."""


def lcg_next(state: int) -> int:
    """The fault ``lcg-isn``: the next ISN, ``a * previous + c mod 2^32``, one step per connection.
    It passes a rate-based look at the ISNs (they jump all over the circle) yet one pair of
    consecutive ISNs gives away every later one."""
    return (LCG_A * state + LCG_C) & seqnum.MASK

