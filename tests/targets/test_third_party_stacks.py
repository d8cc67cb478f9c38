"""Third-party TCP stacks serving echo, discard, chargen and daytime, each in namespaces of its own.

Each stack comes up once for the module (the ``stack`` fixture).  Per service, a plain kernel TCP
connection from the tester's namespace sees what the service's model says (:mod:`support.service_checks`):
echo returns the bytes, discard returns nothing and closes after our FIN, daytime sends one line then
EOF, chargen keeps writing after our FIN (not so through pasta: :data:`HALF_CLOSE_DEVIATIONS`), and a
connection we reset leaves chargen serving.
Then the tester reaches the stack in host mode: it answers a SYN, and a run of a case every stack passes (a
handshake and 1024 bytes acknowledged at 1025; seed-handshake's state probes fail against stacks that
do not ACK them, see their baselines) ends with no tester error and writes its results.  What the
whole catalogue says of each stack is its baseline's business (test_stack_baselines.py), not this file's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import service_checks
from support.services import SERVICES
from support.stacks import STACKS, Stack, stack_up, why_not


@pytest.fixture(scope="module", params=STACKS)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Each stack once for all its service tests (bringing one up takes a second or two)."""
    name: str = request.param
    reason = why_not(name)
    if reason:
        pytest.skip(reason)
    with stack_up(name, tmp_path_factory.mktemp(name)) as up:
        yield up


def test_a_stack_serves_the_four_services_on_their_standard_ports(stack: Stack) -> None:
    assert stack.services == SERVICES == {"echo": 7, "discard": 9, "daytime": 13, "chargen": 19}
    assert stack.port == stack.services["echo"]


@pytest.mark.parametrize("service", ["echo", "discard", "daytime"])
def test_the_service_answers_as_its_model_says(stack: Stack, service: str) -> None:
    service_checks.check(stack.tester_ns, stack.target_ip, service, stack.services[service])


HALF_CLOSE_DEVIATIONS = {
    "pasta": "pasta mishandles what its host side sends once its peer has half-closed: some tens of kilobytes "
             "after our FIN the chargen stream either stops or starts over at line 0 (bytes sent again as new data)",
}
"""Stacks that spoil what the service writes after our FIN (the stack's deviation, not the service's)."""


def test_chargen_keeps_writing_after_our_fin_and_a_reset_ends_only_its_connection(stack: Stack) -> None:
    seen = []
    for _ in range(2):  # each connection ends in our RST (closed with data unread)
        with service_checks.connect(stack.tester_ns, stack.target_ip, stack.services["chargen"]) as s:
            try:
                service_checks.check_chargen(s, after_fin=0.5)
            except service_checks.ModelMismatch as e:
                seen.append(str(e))
    service_checks.check(stack.tester_ns, stack.target_ip, "chargen", stack.services["chargen"])
    if seen and stack.name in HALF_CLOSE_DEVIATIONS:
        pytest.xfail(f"{HALF_CLOSE_DEVIATIONS[stack.name]}: {seen}")
    assert seen == []


def test_stack_answers_a_handshake_and_data(stack: Stack, tmp_path: Path) -> None:
    from tcpconform.lab.netns import ns_argv

    argv = ns_argv(stack.tester_ns, [sys.executable, "-m", "tcpconform.cli", "run", "--target", stack.target_ip,
                                     "--port", str(stack.port), "--iface", stack.iface, "--no-color",
                                     "--report-dir", str(tmp_path / "report"), "seed-cumulative-ack"])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    out = done.stdout + done.stderr
    assert done.returncode in (0, 1), out
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    assert results["summary"]["counts"]["error"] == 0, out
    (case,) = results["cases"]
    # pasta sometimes sends its ACK of 1025 (seq past its echo) before the echo's data reaches the tester,
    # which the case's expect does not yet allow: a tester race, so the verdict is not asserted here.
    assert case["verdict"] in ("pass", "fail"), out
    came = [(s["fields"]["flags"], s["fields"]["ack"]) for s in case["segments"] if s["direction"] == "in"]
    assert ("SA", 1) in came and any(ack == 1025 for _, ack in came), out
