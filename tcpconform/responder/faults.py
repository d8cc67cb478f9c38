"""Named, switchable misbehaviours of the reference responder.

They exist to prove that test cases can fail: ``tcpconform selftest`` runs every case against the
responder with each fault switched on and checks that the cases naming the fault do fail.  Each
entry is the fault's name and what the responder then does wrong.
"""

from __future__ import annotations

from tcpconform.tcp.segment import Flags, Segment
from tcpconform.wire.tcp import encode_options

FAULTS: dict[str, str] = {
    "ack-the-ack": "a pure ACK that brings nothing new is answered with an ACK (the start of an ACK war)",
    "process-without-ack": "a segment without the ACK bit is processed (its FIN taken) instead of dropped",
    "ignore-ack-of-fin": "the ACK of its own FIN is not acted on: FIN_WAIT_1, CLOSING and LAST_ACK never move on",
    "rst-stray-without-ack": (
        "a listening port answers any segment it cannot use with a RST, even one without the ACK bit "
        "(which RFC 9293 3.10.7.2 drops)"
    ),
    "rst-syn-in-syn-rcvd": (
        "a SYN on a connection in SYN_RCVD is answered with a RST before the connection returns to LISTEN "
        "(RFC 793's rule; RFC 9293 returns to LISTEN silently)"
    ),
    "one-syn-rcvd": (
        "a listening port holds one connection in SYN_RCVD at most: a SYN from another port is dropped "
        "until that one completes (a backlog of one pending connection, as a single-PCB listener)"
    ),
    "defer-accept": (
        "the bare ACK that completes the handshake is ignored: the connection stays in SYN_RCVD until "
        "data arrives (like a listener with TCP_DEFER_ACCEPT)"
    ),
    "wedge-on-bad-option": (
        "an option of illegal length (below 2, or past the header) wedges the stack: it answers nothing "
        "from then on, like a parser looping on a zero length"
    ),
    "ack-syn-data": "the SYN-ACK acknowledges the data a SYN carried, which is then never delivered",
    "short-rto": "the retransmission timeout starts at 200 ms and never goes below it (RFC 6298 2.4 rounds any RTO up to 1 s)",
    "karn-violated": (
        "RTT samples are taken from retransmitted segments, timed from the resend (no Karn's rule): the ACK "
        "of a retransmission sets the RTO from it and drops the backoff"
    ),
    "sws-sender": (
        "no sender silly-window avoidance: whatever small window the peer opens is filled at once with a "
        "segment of that size, though more data is queued"
    ),
    "no-slow-start": "new data is not limited by a congestion window: the peer's whole window goes out at once",
    "no-fast-retransmit": "duplicate ACKs are ignored: a lost segment is resent only when the retransmission timer expires",
    "rto-resends-window": "on a retransmission timeout everything outstanding is resent at once, not one segment",
    "no-rtt-estimate": (
        "the RTO is never adapted to the measured RTT: every ACK puts it back to the initial RTO, so a path "
        "slower than that sees a spurious retransmission every round"
    ),
    "no-rst-closed-port": "a segment to a port nobody listens on is dropped without a RST",
    "closed-port-rst-no-ack": "the RST to a SYN on a closed port lacks the ACK bit (and so its acknowledgment)",
    "bad-syn-ack": "the SYN-ACK acknowledges the client's ISN + 2 instead of ISN + 1",
    "fixed-isn": "every connection uses ISN 0, whatever ISN is configured",
    "linear-isn": (
        "ISNs from the 4-microsecond clock alone, without RFC 6528's keyed hash of the 4-tuple: "
        "clock-driven, but predictable from one observed ISN"
    ),
    "client-isn-counter": (
        "an active open's ISN is the previous active open's + 64000 (4.2BSD's per-connect step, uIP's global "
        "counter); the SYN-ACKs' ISNs stay RFC 6528's"
    ),
    "lcg-isn": (
        "ISNs from a linear congruential generator (ISN' = a * ISN + c mod 2^32, one step per "
        "connection): no clock, and two consecutive ISNs give away every later one"
    ),
    "ack-every-segment": "no delayed ACK: every data segment is acknowledged at once",
    "slow-ack": "ACKs are held for 600 ms and never sent early on a second full-sized segment",
    "ack-unreceived": "every ACK acknowledges 100 bytes more than were received",
    "ignore-window": "sends without regard to the peer's advertised window",
    "ignore-mss": "sends segments up to the link's MSS (1460; 1440 over IPv6), ignoring the MSS the peer offered",
    "ipv6-mss-from-link": (
        "over IPv6, a SYN without an MSS option is taken to allow the link's MSS (1440), not the 1220 default"
    ),
    "fin-without-app": (
        "answers a FIN with its own FIN at once, without waiting for its application (no CLOSE_WAIT)"
    ),
    "no-fin-on-close": "the application's close sends no FIN: the connection stays in CLOSE_WAIT",
    "ignore-fin": "a received FIN is neither acknowledged nor acted on",
    "drop-out-of-order": "segments beyond the next expected byte are dropped instead of buffered",
    "no-retransmit": "unacknowledged data and FINs are never retransmitted",
    # Opening (RFC 9293 3.8.1, 3.10.7.2, 3.10.7.4; RFC 6298).
    "synack-no-retransmit": "an unacknowledged SYN-ACK is never retransmitted",
    "dup-syn-ack-only": (
        "a retransmitted SYN in SYN_RCVD is answered with a bare ACK instead of the SYN-ACK again"
    ),
    "accept-any-ack-syn-rcvd": (
        "in SYN_RCVD any ACK completes the handshake, even one not acknowledging the SYN (no RST)"
    ),
    "no-rst-for-stray-ack": (
        "an ACK to a listening port that matches no connection is dropped instead of reset"
    ),
    # Options and header (RFC 9293 3.1, 3.2, 3.7.1).
    "drop-unknown-option": "a segment carrying an option of unknown kind is discarded",
    "misparse-nop": "option parsing stops at the first NOP, so an MSS after NOP padding is not seen",
    "accept-bad-checksum": "segments with a wrong checksum are processed instead of discarded",
    "odd-checksum": (
        "a segment with an odd number of data bytes carries a checksum that leaves its last byte out "
        "(summed by whole 16-bit words only)"
    ),
    "accept-bad-dataofs": "the data offset is not checked: a segment with an impossible one is processed",
    "eol-garbage": (
        "its SYN-ACK's option list ends with an EOL followed by non-zero bytes (an uncleared buffer), "
        "where RFC 9293 3.1 (MUST-69) wants zeros"
    ),
    "mss-on-every-segment": "every segment it sends carries its MSS option, not only its SYN (RFC 9293 MUST-65)",
    "sack-unpermitted": (
        "its ACKs carry a SACK block though the peer never sent SACK-permitted (RFC 2018 4 forbids it)"
    ),
    "garbled-options": "its SYN-ACK ends its options with an option of length 1, a list that does not parse",
    "reserved-bits-drop": "a segment with any reserved header bit set is discarded",
    # Negotiated options (RFC 7323, RFC 3168 6.1.1).
    "ws-unscaled": "the peer's windows are taken unscaled, though both SYNs carried a Window Scale option",
    "ws-big-shift-as-zero": (
        "a Window Scale shift above 14 is taken as 0, not 14 (RFC 7323 2.3): the peer's windows are read "
        "unscaled (as pasta does)"
    ),
    "ws-unoffered": "its SYN-ACK carries a Window Scale option though the SYN carried none",
    "ts-unoffered": "its SYN-ACK and every later segment carry timestamps though the SYN carried none",
    "ts-echo-wrong": "TSecr echoes the TSval of the latest segment received, not TS.Recent (RFC 7323 4.3)",
    "ts-missing": "once timestamps are on, its pure ACKs leave the Timestamps option out",
    "no-paws": "a segment whose TSval is older than TS.Recent is taken (no PAWS, RFC 7323 5.3)",
    "ecn-reflect": "its SYN-ACK echoes the ECE and CWR of an ECN-setup SYN (neither an ECN-setup SYN-ACK nor a refusal)",
    "ecn-unrequested": "its SYN-ACK sets ECE (an ECN-setup SYN-ACK) whatever the SYN asked",
    # SACK (RFC 2018).
    "sack-wrong-order": "its SACK blocks come oldest first: the first is not the one holding the segment that triggered the ACK",
    "sack-bad-edges": "the right edge of each SACK block it sends is one octet short of the held data's",
    "sack-crash-on-bogus": (
        "a SACK block beyond SND.NXT wedges the stack: it answers nothing from then on (the SACK-panic class)"
    ),
    # Windows and acknowledgments (RFC 9293 3.8.6, 3.10.7.4; RFC 5681 4.2).
    "no-persist-probe": "data waiting behind a zero window is never probed for (no persist timer)",
    "ignore-unacceptable": (
        "an unacceptable segment (outside the receive window, or an old duplicate) is dropped without the ACK"
    ),
    "deliver-duplicates": (
        "bytes at the start of a segment that were already received are delivered again, not trimmed"
    ),
    "shrink-own-window": (
        "bytes held out of order are charged to the advertised window: an out-of-order segment moves the "
        "right edge of the window it offers left (RFC 9293 SHLD-14)"
    ),
    "no-dup-ack": "a segment beyond a gap is held without being acknowledged (no duplicate ACK)",
    "segment-per-write": (
        "each application write goes out as segments of its own, none crossing a write's end (a send queue of "
        "the application's buffers, one per write): queued small writes are not collapsed (SHLD-27)"
    ),
    "sws-receiver": (
        "no receiver silly-window avoidance: every application read that frees buffer space is announced at once "
        "with a window update, however few octets it took (MUST-39)"
    ),
    "zero-window-drops-all": (
        "while its receive window is zero no segment is acceptable (the test RCV.NXT =< SEG.SEQ < RCV.NXT + "
        "RCV.WND without RFC 9293's zero-window row): a RST at RCV.NXT is dropped, an ACK or URG answered with "
        "an ACK and dropped, its acknowledgment not taken (MUST-66)"
    ),
    "zero-window-drops-urg": (
        "a URG segment arriving while its receive window is zero is dropped whole, its acknowledgment with it "
        "(no buffer for the urgent data it announces; MUST-66)"
    ),
    "send-beyond-shrunk-window": (
        "after the peer shrinks its window below the data in flight, the usable window wraps (unsigned "
        "arithmetic) and all queued data is sent beyond the new right edge"
    ),
    "shrink-crash": "a window update that moves the peer's right edge left aborts the connection with a RST",
    "accept-ack-of-unsent": (
        "a segment acknowledging data never sent is processed (its text taken) instead of dropped"
    ),
    # Retransmission (RFC 6298 5.5).
    "no-backoff": "the retransmission timeout is not doubled between retransmissions of one segment",
    # Active open (RFC 9293 3.8.1, 3.10.7.3; RFC 5961 3; RFC 6298 5.5).
    "syn-sent-rst-without-ack": (
        "in SYN_SENT a RST resets the connection whatever its ACK (none, or one not acknowledging the SYN): "
        "the blind reset RFC 5961 3 closes"
    ),
    "synack-bad-ack-accepted": (
        "in SYN_SENT a SYN-ACK acknowledging something other than the SYN establishes the connection "
        "instead of being answered with a RST"
    ),
    "no-simultaneous-open": (
        "in SYN_SENT a SYN without ACK (crossing SYNs) is ignored: no SYN-ACK, no SYN_RCVD, as a stack "
        "that only knows the SYN-ACK there"
    ),
    "syn-no-backoff": "the active opener's SYN is retransmitted at a constant interval, never backing off",
    "syn-no-retransmit": "the active opener's SYN is never retransmitted",
    # Giving up (RFC 9293 3.8.3, 3.8.6.1: responder/giveup.py).
    "gives-up-early": "unacknowledged data is given up on after 30 s (R2 below SHLD-11's 100 s): the connection closes",
    "never-gives-up": "unacknowledged data is retransmitted for ever: the connection never closes (no R2, MUST-20)",
    "syn-gives-up-early": (
        "an unanswered SYN is given up on after 120 s (Linux's default tcp_syn_retries gives about 127 s), "
        "below MUST-23's 3 minutes"
    ),
    "syn-never-gives-up": "an unanswered SYN is retransmitted for ever: connect never fails (MUST-22)",
    "user-timeout-ignored": "TCP_USER_TIMEOUT is accepted but has no effect: R2 stays the default (MUST-21)",
    "persist-gives-up": (
        "after 6 zero-window probes the connection is reset, answered or not (lwIP 2.1 counts persist probes "
        "against TCP_MAXRTX): MUST-37"
    ),
    "syn-no-mss": "the active opener's SYN carries no MSS option, as a minimal stack that implements no option",
    # Nagle and keep-alive (RFC 9293 3.7.4, 3.8.4).
    "no-nagle": "no Nagle algorithm: every small write goes out at once, even while earlier small data is unacknowledged",
    "nodelay-ignored": "TCP_NODELAY is accepted but has no effect: Nagle's algorithm stays on",
    "keepalive-default-on": "keep-alive probes are on for every connection, without the application asking (SO_KEEPALIVE)",
    "keepalive-idle-20s": (
        "the idle time before the first keep-alive probe defaults to 20 s, not two hours (FreeRTOS+TCP's "
        "ipconfigTCP_KEEP_ALIVE_INTERVAL default)"
    ),
    "keepalive-one-probe-kills": "the first unanswered keep-alive probe ends the connection with a RST (no further probes)",
    "keepalive-ignores-traffic": (
        "the keep-alive timer runs from when keep-alive was switched on: segments received do not restart it, "
        "and data outstanding does not stop a probe"
    ),
    # Resets and RFC 5961.
    "ignore-rst": (
        "an acceptable RST (exactly at RCV.NXT; in SYN_SENT, acknowledging the SYN) is ignored: the connection lives on"
    ),
    "rst-with-data-ignored": (
        "a RST carrying data is dropped as malformed (RFC 9293 3.5.3 lets a RST carry a diagnostic text): "
        "the connection lives on"
    ),
    "rst-any-seq": "a RST anywhere in the receive window resets the connection (no challenge ACK)",
    "no-challenge-ack-throttle": (
        "every RST or SYN that deserves a challenge ACK gets one, however many come (no RFC 5961 7 throttle, "
        "as lwIP's tcp_process)"
    ),
    "rst-out-of-window": "a RST outside the receive window resets the connection",
    "syn-resets": "a SYN in a synchronized state is answered with a RST and closes the connection",
    "answer-rst-with-rst": "a RST that is not accepted (out of window, or for no connection) is answered with a RST",
    "rst-answers-rst": "an accepted RST is answered with a RST before the connection closes",
    "syn-any-seq-resets": (
        "a SYN in a synchronized state resets the connection even outside the window (the SYN checked "
        "before the sequence number)"
    ),
    "old-ack-accepted": (
        "a segment whose ACK is older than SND.UNA - MAX.SND.WND has its text taken (RFC 793's ignored "
        "duplicate ACK) instead of being dropped with an ACK (RFC 5961 5.2)"
    ),
    # Urgent data (RFC 9293 3.8.5, RFC 6093).
    "urgent-pointer-crash": (
        "an urgent pointer beyond the segment's end (urgent data going on in a later segment) wedges the "
        "stack: it answers nothing from then on, like URGENT/11's urgent-pointer bugs"
    ),
    "urgent-zero-crash": "URG with an urgent pointer of 0 wedges the stack (the urgent length underflows, CVE-2019-12255)",
    "crash-on-malformed-option": (
        "an MSS, window-scale or timestamps option whose length is not its kind's (an MSS of 3 bytes) crashes "
        "the stack: it answers nothing from then on, like a parser that reads the value its kind promises"
    ),
    "slip-listen-on-syn-fin": (
        "a SYN that also carries FIN, to a listening port, is taken as the application's close: the port "
        "stops listening and answers every later SYN with a RST (a state machine slip out of LISTEN)"
    ),
    "urgent-byte-dropped": (
        "the octet before the urgent pointer is taken out of the segment before its sequence accounting: "
        "the ACK falls one octet short and the next segment looks out of order"
    ),
    "urgent-pointer-last-octet": (
        "the application's urgent data is sent with an urgent pointer at its last octet, one short (RFC 1122 "
        "4.2.2.4's reading, which RFC 6093 and RFC 9293 3.8.5 retired: it points just after the urgent data)"
    ),
    "urgent-not-flagged": (
        "the application's urgent data goes out as ordinary data, without URG (a stack whose send path "
        "takes MSG_OOB and drops the flag)"
    ),
    # Header fields and option parsing (RFC 9293 3.1, 3.2).
    "signed-window": "the peer's window is read as a signed 16-bit number: a window of 32768 or more is negative",
    "aligned-options-only": "an MSS option not starting on a 4-octet boundary of the option list is not seen",
    # ICMP (RFC 9293 3.9.2.2, RFC 1191, RFC 8201, RFC 5927, RFC 6633).
    "pmtu-ignored": "frag-needed / packet-too-big is ignored: segments keep the size the path cannot carry",
    "soft-error-aborts": "any ICMP error about an established connection aborts it, soft ones (MUST-56) included",
    "source-quench-slows": "a source quench cuts the congestion window to one segment, then slow start (BSD's old way)",
    "icmp-blind-accepted": "an ICMP error is acted on whatever sequence number it quotes (no RFC 5927 4.1 check)",
    "icmp-hard-ignored": (
        "a hard ICMP error (protocol or port unreachable) about a connection being opened is ignored: the SYN "
        "goes on being retransmitted until the stack gives up (lwIP and uIP pass no ICMP error to TCP)"
    ),
    # ECN in use (RFC 3168 6.1.2-6.1.5).
    "ecn-no-ect": "ECN is set up, but no data segment is sent ECN-capable (no ECT): routers can only drop, never mark",
    "ecn-no-echo": "a CE-marked segment is taken as any other: ECE is never set, the sender never hears of the congestion",
    "ecn-echo-sticky": "ECE stays on after the peer's CWR: one mark makes the sender halve its window every round trip",
    # Reopening from TIME-WAIT (RFC 9293 3.6.1, RFC 6191).
    "time-wait-no-reopen": "TIME-WAIT never takes a new SYN on its 4-tuple: every one is only ACKed (lwIP, most small stacks)",
    "time-wait-seq-only": (
        "TIME-WAIT reopens on RFC 1122's sequence rule alone, TSvals unchecked: a SYN beyond RCV.NXT reopens whatever "
        "its TSval, one below never (no PAWS on a SYN there, as FreeBSD's tcp_twcheck)"
    ),
    "time-wait-reopen-same-isn": "a connection reopened from TIME-WAIT reuses the old ISN, inside the old incarnation's numbers",
    # The IP layer (RFC 9293 3.9.2, 3.9.2.3; RFC 1122 3.2.1.3).
    "ip-options-drop": (
        "a datagram with IP options (IPv4 options, an IPv6 Destination Options header) is dropped, as lwIP "
        "built with IP_OPTIONS_ALLOWED 0 and many middleboxes' extension-header filters do"
    ),
    "source-route-ignored": (
        "a SYN with a completed source route is answered, and the connection served, without the return "
        "route, as stacks that take IP options in but never hand them to TCP do (lwIP; FreeBSD with "
        "net.inet.ip.accept_sourceroute 1)"
    ),
    "source-route-echoed": (
        "the received source route option is sent back as it came (completed, its hops in the order "
        "received) instead of reversed, as stacks that copy a datagram's IP options into the reply do"
    ),
    "source-route-first-kept": (
        "the opening SYN's source route is kept for the connection's life and a later segment's is not "
        "taken, as Linux with accept_source_route 1 does (it keeps the SYN's IP options alone)"
    ),
    "app-route-ignored": (
        "the source route the application set before connecting (IP_OPTIONS) is dropped: the SYN and "
        "every later segment go straight to the destination without it, as stacks that accept the "
        "socket option but never put its route on TCP's segments do"
    ),
    "received-route-overrides-app": (
        "a completed source route received on an active open replaces the route the application set, "
        "as a stack that saves every received route whoever opened the connection does"
    ),
    "martian-syn-answered": (
        "a SYN from an invalid source (0.0.0.0, loopback, broadcast, multicast) is answered, as a stack "
        "without RFC 1122 3.2.1.3's source checks does"
    ),
    "land-wedges": (
        "a SYN from the stack's own address and port (LAND) is answered, to itself, and the stack loops on "
        "it and answers nothing more (Windows 95's and many embedded stacks' LAND crash)"
    ),
    "broadcast-syn-answered": "a SYN to a broadcast or multicast address is answered, from the stack's own address",
    "reply-from-primary": (
        "every segment goes out from the host's first address, even on a connection whose SYN came to its "
        "second (the source taken from the routing table per segment, not from the connection)"
    ),
    "connect-to-group": "an active open to a broadcast or multicast address proceeds, and its SYN is sent there",
    "listen-resets-port": (
        "a passive open on a port resets every connection already on it (one control block per local port, "
        "reinitialised for the new listener)"
    ),
    "unbound-source-unspecified": (
        "the SYN of an active open whose application bound no local address goes out from the unspecified "
        "address (0.0.0.0, ::), the source never chosen"
    ),
    "ttl-ignored": "IP_TTL / IPV6_UNICAST_HOPS is accepted, and the segments keep the default TTL of 64",
    "tos-ignored": "IP_TOS / IPV6_TCLASS is accepted, and the segments keep TOS 0",
    "tos-data-only": (
        "only new data carries the DS value the application set: pure ACKs, retransmissions and a bare FIN, "
        "built by other paths, go out with TOS 0"
    ),
    "tos-change-ignored": (
        "the first DS value the application set sticks: a later IP_TOS / IPV6_TCLASS is taken and ignored "
        "(a header template filled in once per connection)"
    ),
    # Closing (RFC 9293 3.6, 3.10.7.4).
    "fin-despite-unread": (
        "the application's close with received data unread flushes it and sends a FIN, not a RST (RFC 9293 SHLD-3)"
    ),
    "data-after-close-discarded": (
        "data arriving after the application closed is acknowledged and dropped instead of answered with a RST"
    ),
    "time-wait-ignores-fin": "in TIME_WAIT a retransmitted FIN is neither acknowledged nor restarts 2*MSL",
    "rst-as-eof": (
        "a RST that ended the connection reaches the application as a normal end of file, not as a reset "
        "(a socket layer that maps every remote close to a zero-length read)"
    ),
    "fin-as-reset": "the peer's FIN reaches the application as a failure, connection reset, not as the end of the stream",
    "skip-closing": "a FIN in FIN_WAIT_1 (crossing the responder's own FIN) leads to TIME_WAIT, skipping CLOSING",
}


FAULT_FAMILIES: dict[str, str] = {"ipv6-mss-from-link": "ipv6", "source-quench-slows": "ipv4", "source-route-ignored": "ipv4",
                                  "source-route-echoed": "ipv4", "source-route-first-kept": "ipv4",
                                  "app-route-ignored": "ipv4", "received-route-overrides-app": "ipv4"}
"""Faults that can only show over one address family; ``selftest`` runs them over that family only."""


def applies(name: str, family: str) -> bool:
    """Whether fault ``name`` can change anything over ``family`` (``ipv4`` or ``ipv6``)."""
    return FAULT_FAMILIES.get(name, family) == family


def describe(name: str) -> str:
    """The fault's description; ``KeyError`` with the known names when it does not exist."""
    try:
        return FAULTS[name]
    except KeyError:
        known = ", ".join(sorted(FAULTS))
        raise KeyError(f"unknown fault {name!r} (known: {known})") from None

OPTION_FAULTS = frozenset({"mss-on-every-segment", "sack-unpermitted", "garbled-options", "eol-garbage"})
"""The faults that rewrite a segment's options on its way out (:func:`option_faults`)."""


def option_faults(seg: Segment, faults: frozenset[str]) -> Segment:
    """What the option faults make of a segment on its way out (``mss-on-every-segment``,
    ``sack-unpermitted``, ``garbled-options``); the segment itself when none applies."""
    if "mss-on-every-segment" in faults and not seg.flags & Flags.SYN and not seg.flags & Flags.RST:
        seg = seg.with_(options=(*seg.options, ("MSS", 1460)))
    if "sack-unpermitted" in faults and seg.flags & Flags.ACK and not seg.flags & (Flags.SYN | Flags.RST):
        block = ((seg.ack + 100) & 0xFFFFFFFF, (seg.ack + 200) & 0xFFFFFFFF)
        seg = seg.with_(options=(*seg.options, ("NOP", None), ("NOP", None), ("SAck", block)))
    if "garbled-options" in faults and seg.flags & Flags.SYN and seg.flags & Flags.ACK:
        raw = encode_options(seg.options) + bytes([254, 1, 0, 0])
        seg = seg.with_(options=(("raw", raw),))
    if "eol-garbage" in faults and seg.flags & Flags.SYN and seg.flags & Flags.ACK:
        seg = seg.with_(options=(*seg.options, ("EOL", None)), eol_tail=b"\xde\xad")
    return seg
