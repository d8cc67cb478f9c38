"""tcpconform: a packet-level TCP conformance tester.

Test cases are data (``testcases/``); a run drives them segment by segment over a link against a
target, by default the bundled reference responder, and reports RFC-traceable verdicts.
"""

__version__ = "0.1.0"
