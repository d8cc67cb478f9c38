"""A sequence of letters on which two machines differ, written out as a case file.

The sequence is played once more against the reference responder (in-process, on the virtual clock)
and the case says what it answered: each letter's segment as a ``send`` (``numbering: absolute``:
the tester's numbers as the learner sent them, its acknowledgment of the target's relative to the
ISN captured from the target's latest SYN, ``?t1`` then ``$t1+1``, ``t2``... as each new connection
has its own; an ACK before any SYN of the target's acknowledges 0, as the learner's did), or an
application letter's call as an ``app`` step (a call the reference refused, or had no connection
for, as a comment: it changes nothing on the wire) and its ACKs as sends, then each of their
answers as an ``expect``, or a ``silence`` where nothing came.  An expect checks what the learner
told apart (the flags, the length, what the ACK acknowledges) and leaves the target's sequence
number open but in its SYN, which it captures.  Nothing unscripted is tolerated but a bare ACK
during a silence: the learner's quiescence is shorter than the 500 ms an ACK may be delayed, so "quiet" against "an
ACK" can be timing alone.  So the case passes on the reference by construction, and fails on a target
whose machine answers that sequence otherwise.  The requirement is MAY: a difference from the
reference is a lead, which the RFC's text turns into a deviation or not.
"""

from __future__ import annotations

from collections.abc import Sequence

from tcpconform.learn.mapper import INPUTS
from tcpconform.learn.sul import LinkSUL
from tcpconform.links.base import Link
from tcpconform.targets.base import Capability, Target
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags, Segment

__all__ = ["case_text"]

def case_text(case_id: str, letters: Sequence[str], link: Link, target: Target, quiet: float,
              against: str) -> str:
    """The case for ``letters`` as the reference behind ``link``/``target`` answers them; ``against``
    names what answered otherwise (for the title and description)."""
    sul = LinkSUL(link, target, quiet)
    sul.pre()
    outputs = [sul.step(letter) for letter in letters]
    steps = sul.trace.steps
    sul.post()
    lines = [f"id: {case_id}", f'title: "The answers to {" ".join(letters)} are the reference responder\'s"',
             "description: |",
             f"  Written by tcpconform learn: on this input sequence the machine learnt of {against}",
             "  answers otherwise than the reference responder's; the steps are what the reference sent.",
             "  A difference from the reference is not by itself a deviation: RFC 9293 3.10 decides (the",
             "  level is MAY until someone who read it there says otherwise).",
             "requirements:",
             "  - {id: learned, ref: RFC 9293 3.10, level: MAY, text: \"The target answers this input sequence as the",
             "     reference responder does.\"}",
             f"no_fault: written by tcpconform learn against {against}",
             "numbering: absolute",
             "steps:"]
    if Capability.APP in target.capabilities:
        lines.append("  - app: listen")
    capture: tuple[str, int] | None = None  # the latest target SYN's captured name and its ISN (the reference's)
    syns = 0
    for (letter, exchanges), output in zip(steps, outputs, strict=True):
        if not exchanges:  # no connection to call on: no call, and no time passed
            lines.append(f"  # {letter}: {output} (the application holds no connection to call on)")
        for sent, got in exchanges:
            if sent is None:  # the reference's application refused the call: nothing on the wire
                lines.append(f"  # {letter}: {output} (the reference's application refused the call)")
            elif isinstance(sent, str):
                lines.append(f"  - app: {sent}    # {letter}")
            else:
                lines.append(f'  - send: "{_send(sent, capture)}"    # {letter}' + (
                    "" if letter in INPUTS else ": the tester's ACK of what the application's call sent"))
            if not got:
                lines += [f"  - silence: {quiet * 1000:.0f}ms", "    tolerate: [ack]"]  # a delayed ACK the quiet cut off
            for seg in got:
                seq = "*:*"
                if seg.flags & Flags.SYN:
                    syns += 1
                    capture = (f"t{syns}", seg.seq)
                    seq = f"?{capture[0]}:*"
                expect = f"{seg.flags.tcpdump()} {seq}({len(seg.payload)})"
                if seg.flags & Flags.ACK:
                    expect += f" ack {seg.ack}"
                lines += [f'  - expect: "{expect}"    # {output}', f"    within: {quiet * 1000:.0f}ms", "    tolerate: []"]
    return "\n".join(lines) + "\n"


def _send(seg: Segment, capture: tuple[str, int] | None) -> str:
    """``seg`` in the notation, the tester's numbers as on the wire and its acknowledgment of the
    target's relative to the latest captured ISN (0 before any SYN of the target's was seen)."""
    end = seqnum.add(seg.seq, len(seg.payload))
    text = f"{seg.flags.tcpdump()} {seg.seq}:{end}({len(seg.payload)})"
    if seg.flags & Flags.ACK:
        text += f" ack {seg.ack}" if capture is None else f" ack ${capture[0]}+{seqnum.diff(seg.ack, capture[1])}"
    return f"{text} win {seg.window}"
