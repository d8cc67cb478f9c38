"""A sequence of letters on which two machines differ, written out as a case file.

The sequence is played once more against the reference responder (in-process, on the virtual clock)
and the case says what it answered: each letter's segment as a ``send`` (numbers relative to each
side's ISN, ``numbering: {tester: 0, target: 0}``), or an application letter's call as an ``app``
step (a call the reference refused, or had no connection for, as a comment: it changes nothing on
the wire) and its ACKs as sends, then each of their answers as an ``expect``, or a ``silence`` where
nothing came.  An expect checks what the learner told apart (the flags, the
length, what the ACK acknowledges) and leaves the target's sequence number open but in its SYN, which
anchors the target's numbering.  Nothing unscripted is tolerated but a bare ACK during a silence:
the learner's quiescence is shorter than the 500 ms an ACK may be delayed, so "quiet" against "an
ACK" can be timing alone.  So the case passes on the reference by construction, and fails on a target
whose machine answers that sequence otherwise.  The requirement is MAY: a difference from the
reference is a lead, which the RFC's text turns into a deviation or not.
"""

from __future__ import annotations

from collections.abc import Sequence

from tcpconform.learn.mapper import INPUTS, TESTER_ISN
from tcpconform.learn.sul import LinkSUL
from tcpconform.links.base import Link
from tcpconform.targets.base import Capability, Target
from tcpconform.tcp import seqnum
from tcpconform.tcp.segment import Flags

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
    isn: int | None = None
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
             "numbering: {tester: 0, target: 0}",
             "steps:"]
    if Capability.APP in target.capabilities:
        lines.append("  - app: listen")
    for (letter, exchanges), output in zip(steps, outputs, strict=True):
        if not exchanges:  # no connection to call on: no call, and no time passed
            lines.append(f"  # {letter}: {output} (the application holds no connection to call on)")
        for sent, got in exchanges:
            if sent is None:  # the reference's application refused the call: nothing on the wire
                lines.append(f"  # {letter}: {output} (the reference's application refused the call)")
            elif isinstance(sent, str):
                lines.append(f"  - app: {sent}    # {letter}")
            else:
                # before the target's SYN is seen the tester acknowledges 0, which reads the same either way
                lines.append(f'  - send: "{sent.summary(TESTER_ISN, isn)}"    # {letter}' + (
                    "" if letter in INPUTS else ": the tester's ACK of what the application's call sent"))
            if not got:
                lines += [f"  - silence: {quiet * 1000:.0f}ms", "    tolerate: [ack]"]  # a delayed ACK the quiet cut off
            for seg in got:
                if seg.flags & Flags.SYN and isn is None:
                    isn = seg.seq
                seq = f"{seqnum.diff(seg.seq, isn)}:{seqnum.diff(seg.seq, isn) + len(seg.payload)}" if (
                    seg.flags & Flags.SYN and isn is not None) else "*:*"
                expect = f"{seg.flags.tcpdump()} {seq}({len(seg.payload)})"
                if seg.flags & Flags.ACK:
                    expect += f" ack {seqnum.diff(seg.ack, TESTER_ISN)}"
                lines += [f'  - expect: "{expect}"    # {output}', f"    within: {quiet * 1000:.0f}ms", "    tolerate: []"]
    return "\n".join(lines) + "\n"
