"""Fixtures of the agent tests: the lab (see ``agentlab``), the Linux agent in it, and the checks that
nothing is left behind.  Whatever happens to a test, everything is taken down, and the session ends
by checking that no namespace, link or agent process of this session is left.
"""

from __future__ import annotations

import atexit
import secrets
from collections.abc import Iterator

import pytest
from support.agentlab import (
    LINK_PREFIX,
    NS_PREFIX,
    SPAWNED,
    TARGET_IP,
    TESTER_IP,
    Lab,
    delete_namespaces,
    netns_unavailable,
    our_host_links,
    our_namespaces,
    run_ip,
    running,
)

from tcpconform.targets.agent.client import AgentTarget, linux_agent_argv


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind() -> Iterator[None]:
    """The last word of the session: every agent process ended, every namespace and link gone."""
    yield
    left = [pid for pid in SPAWNED if running(pid)]
    assert not left, f"agent processes left running: {left}"
    if netns_unavailable() is None:
        assert our_namespaces() == [], "network namespaces left behind"
        assert our_host_links() == [], "links left behind"


@pytest.fixture
def spawned_agents() -> list[int]:
    """Every agent pid a test starts goes here, for the session's last check."""
    return SPAWNED


@pytest.fixture
def lab() -> Iterator[Lab]:
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    n = secrets.token_hex(2)[:3]  # a link name has 15 characters at most: tcpca + 6 + 3 + t
    target_ns, tester_ns = f"{NS_PREFIX}-{n}-t", f"{NS_PREFIX}-{n}-c"
    target_link, tester_link = f"{LINK_PREFIX}{n}t", f"{LINK_PREFIX}{n}c"
    names = [target_ns, tester_ns]
    atexit.register(delete_namespaces, names)  # a Ctrl-C that skips the fixture's teardown still cleans up
    built = Lab(target_ns, tester_ns, tester_link)
    try:
        for ns in names:
            run_ip("netns", "add", ns)
            run_ip("-n", ns, "link", "set", "lo", "up")
        run_ip("-n", target_ns, "link", "add", target_link, "type", "veth", "peer", "name", tester_link, "netns", tester_ns)
        for ns, link, addr in ((target_ns, target_link, TARGET_IP), (tester_ns, tester_link, TESTER_IP)):
            run_ip("-n", ns, "addr", "add", f"{addr}/24", "dev", link)
            run_ip("-n", ns, "link", "set", link, "up")
        yield built
    finally:
        for sock in built.sockets:
            sock.close()
        stray = {ns: run_ip("netns", "pids", ns, check=False).stdout.split() for ns in names if ns in our_namespaces()}
        delete_namespaces(names)
        atexit.unregister(delete_namespaces)
        assert not any(stray.values()), f"processes left in the lab's namespaces: {stray}"
        assert not set(names) & set(our_namespaces()), "the lab's namespaces survived their deletion"
        assert our_host_links() == []


@pytest.fixture
def linux_agent(lab: Lab) -> Iterator[AgentTarget]:
    """The Linux agent in the lab's target namespace, as the engine would start it."""
    target = AgentTarget(linux_agent_argv(lab.target_ns), "linux agent", TARGET_IP, 8000)
    SPAWNED.append(target.pid)
    try:
        yield target
    finally:
        target.close()
        assert not running(target.pid)


