"""What the tester's SYN offered and the target's SYN answered: the invariants of negotiated options
on every segment from the target, and the ``negotiated`` step.

A target may rightly decline every option the tester offers (RFC 7323 and RFC 2018 make them
offers, RFC 3168 makes ECN a MAY), so a case checking how a negotiated option is used first says
``negotiated: wscale`` (or ``timestamps``, ``ecn``, ``sack``): on a target that declined, the rest of the case
is skipped with the reason, never failed, and never passed on what it could not see.  What a
target may never do, whatever it implements, is checked on every segment by the invariants here:
an option back that the tester did not offer, a SYN-only option outside a SYN, a segment without
timestamps once they are on, an ECN-setup SYN-ACK to a SYN that did not ask.
"""

from __future__ import annotations

from tcpconform.cases.model import Negotiable
from tcpconform.engine.connection import TesterConnection
from tcpconform.engine.outcome import CaseError, CaseUnobservable
from tcpconform.results import Mismatch, StepResult
from tcpconform.tcp.segment import Flags, Segment, render_options

_WHAT = {"wscale": "window scaling (a Window Scale option)", "timestamps": "timestamps (a Timestamps option)",
         "ecn": "ECN (an ECN-setup SYN: ECE and CWR)", "sack": "SACK (a SACK-permitted option)"}


def negotiation_hygiene(seg: Segment, conn: TesterConnection, enabled: frozenset[str]) -> list[tuple[str, Mismatch]]:
    """The invariants ``options-offered`` (no Window Scale or Timestamps option the tester's SYN did
    not offer; an unasked SACK-permitted is not judged: RFC 2018 2 says what a SYN may carry, nothing
    of the SYN-ACK's answer), ``syn-only-options``, ``ts-every-segment`` and ``ecn-setup``."""
    out: list[tuple[str, Mismatch]] = []
    kinds = {kind for kind, _ in seg.options}
    shown = render_options(seg.options) or "none"
    syn = bool(seg.flags & Flags.SYN)
    # A target that connects out offers in its SYN, and a SYN-ACK it sends in a simultaneous open is
    # that SYN again: only its segments without SYN are bound by what the tester answered (RFC 7323
    # 2.2, 3.2: an option is in effect only when both SYNs carried it).
    first = conn.target_syn if conn.target_syn is not None else seg
    offer = syn and not first.flags & Flags.ACK
    if "options-offered" in enabled and not offer:
        unasked = [word for kind, word, offered in (("WScale", "wscale", conn.ws_offered is not None),
                                                   ("Timestamp", "TS", conn.ts_offered))
                   if kind in kinds and not offered]
        if unasked:
            out.append(("options-offered", Mismatch(
                "options", f"no {' or '.join(unasked)} (the tester's SYN offered none)", shown)))
    if "syn-only-options" in enabled and not syn:
        misplaced = [word for kind, word in (("WScale", "wscale"), ("SAckOK", "sackOK")) if kind in kinds]
        if misplaced:
            out.append(("syn-only-options", Mismatch(
                "options", f"no {' or '.join(misplaced)} (a SYN-only option; this is no SYN)", shown)))
    if ("ts-every-segment" in enabled and conn.ts_negotiated and not syn and not seg.flags & Flags.RST
            and "Timestamp" not in kinds):
        out.append(("ts-every-segment", Mismatch(
            "options", "a Timestamps option (negotiated: on every segment but a RST)", shown)))
    ecn_setup = syn and seg.flags & Flags.ACK and seg.flags & Flags.ECE and not seg.flags & Flags.CWR
    if "ecn-setup" in enabled and ecn_setup and not conn.ecn_offered:
        out.append(("ecn-setup", Mismatch(
            "flags", "no ECE (the tester's SYN was no ECN-setup SYN)", seg.flags.tcpdump())))
    return out


def _check_sack_blocks(conn: TesterConnection, sres: StepResult) -> None:
    """Go on only if the target has sent a SACK option on this connection: a receiver sent
    SACK-permitted MAY elect to generate SACK options (RFC 2018 4), so one that sent none where they
    were due (after data held beyond a hole) is skipped, never failed."""
    if not conn.sack_offered:
        raise CaseError("negotiated: sack-blocks: the tester's SYN did not offer SACK (a SACK-permitted option)")
    if not conn.sack_seen:
        raise CaseUnobservable("the target sent no SACK option where one was due (data held beyond a hole): "
                               "RFC 2018 4 lets a receiver elect not to generate them (MAY); what the case checks "
                               "of SACK blocks cannot be observed")
    sres.message = "the target sends SACK blocks"


def check_negotiated(conn: TesterConnection, what: Negotiable, sres: StepResult) -> None:
    """Go on only if ``what`` was offered by the tester and taken by the target; capture what the
    target's SYN said (``target_wscale``; ``target_tsval``, the TSval of its SYN, for the tester's
    TSecr).  A target that declined makes the rest of the case unobservable: skipped, with why."""
    syn = conn.target_syn
    if syn is None:
        raise CaseError(f"negotiated: {what}: the target's SYN has not been seen yet (expect it first)")
    if what == "sack-blocks":
        _check_sack_blocks(conn, sres)
        return
    if what == "wscale":
        offered, taken = conn.ws_offered is not None, conn.ws_negotiated
    elif what == "timestamps":
        offered, taken = conn.ts_offered, conn.ts_negotiated
    elif what == "sack":
        offered, taken = conn.sack_offered, conn.sack_offered and any(kind == "SAckOK" for kind, _ in syn.options)
    else:
        offered = conn.ecn_offered
        taken = offered and bool(syn.flags & Flags.ECE) and not syn.flags & Flags.CWR
    if not offered:
        raise CaseError(f"negotiated: {what}: the tester's SYN did not offer {_WHAT[what]}")
    if not taken:
        raise CaseUnobservable(f"the target did not negotiate {_WHAT[what].split(' (')[0]}: its SYN-ACK "
                               f"({syn.flags.tcpdump()} {render_options(syn.options) or 'without options'}) declined, "
                               "as it may; what the case checks of its use cannot be observed")
    shift, tsopt = syn.option("WScale"), syn.option("Timestamp")
    if what == "wscale" and isinstance(shift, int):
        conn.captured["target_wscale"] = shift
    if what == "timestamps" and isinstance(tsopt, tuple) and len(tsopt) == 2:
        conn.captured["target_tsval"] = tsopt[0]
    sres.message = f"the target negotiated {_WHAT[what].split(' (')[0]}"
