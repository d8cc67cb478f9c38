"""The lab's standing Linux agent: started by ``lab up``, used by every run on the lab, gone with it.

Starting the Linux agent for each run (a Python process inside the target's namespace, its imports,
its hello) was a third of a short run's wall time.  ``tcpconform lab up`` starts one that stays:
the same agent, serving the protocol over its UDP transport on the target namespace's loopback
(:data:`AGENT_HOST`, :data:`AGENT_PORT`).  A run finds it there and speaks to it through a socket
it opens inside that namespace, so the agent is never reachable from the tested link nor from the
host's own interfaces, and no address outside the lab is involved.

Invariants: the agent lives inside the lab's ``tcpc`` target namespace, so ``lab down`` (which
stops every process in the lab's namespaces), ``tcpconform cleanup`` and a failed or interrupted
``lab up`` (:func:`start`) all stop it; it is found by its port being held on that loopback, never
by a file; a run with no standing agent (a lab made for the run, a lab from before) starts one of
its own as it always did.  The agent keeps no state between runs: each run's session resets it on
the way in and out (:class:`~tcpconform.targets.agent.client.AgentTarget` with a persistent transport),
and the lab takes one run at a time (:func:`tcpconform.lab.lab.lab_in_use`).
"""

from __future__ import annotations

import errno
import socket
import subprocess
import sys
import time

from tcpconform.lab.netns import LabError, in_netns, ns_argv
from tcpconform.lab.spec import Lab
from tcpconform.targets.agent.client import agent_env
from tcpconform.targets.agent.transport import UdpTransport, end_process

__all__ = ["AGENT_HOST", "AGENT_PORT", "open_standing", "running", "stand_up", "start"]

AGENT_HOST = "127.0.0.1"
AGENT_PORT = 7999
"""The standing agent's UDP port on the target namespace's loopback (no TCP case uses UDP)."""
START_WAIT = 15.0
"""Seconds ``lab up`` waits for the agent to hold its port (a Python start on a loaded machine)."""


def running(lab: Lab) -> bool:
    """Whether the lab's standing agent holds its port (asked by trying to bind it in the namespace)."""
    with in_netns(lab.target_ns):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with probe:
        try:
            probe.bind((AGENT_HOST, AGENT_PORT))
        except OSError as err:
            return err.errno == errno.EADDRINUSE
    return False


def start(lab: Lab, env: dict[str, str]) -> bool:
    """Start the lab's standing agent unless it runs; True if it was started now.  On any failure,
    Ctrl-C included, the agent started is stopped before the error goes on."""
    if running(lab):
        return False
    argv = ns_argv(lab.target_ns, [sys.executable, "-m", "tcpconform.targets.agent.linux",
                                   "--log-level", "WARNING", "--udp", f"{AGENT_HOST}:{AGENT_PORT}"])
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True, env=env)
    except OSError as err:
        raise LabError(f"lab {lab.name}: cannot start the Linux agent: {err.strerror or err}") from None
    try:
        deadline = time.monotonic() + START_WAIT
        while not running(lab):
            if proc.poll() is not None:
                raise LabError(f"lab {lab.name}: the Linux agent ended at once (exit status {proc.returncode}); "
                               f"`{' '.join(argv[4:])}` inside {lab.target_ns} shows why")
            if time.monotonic() > deadline:
                raise LabError(f"lab {lab.name}: the Linux agent did not serve within {START_WAIT:.0f} s")
            time.sleep(0.01)
    except BaseException:
        end_process(proc, 1.0)
        raise
    return True


def open_standing(lab: Lab) -> UdpTransport | None:
    """A transport to the lab's standing agent, or None if it has none."""
    if not running(lab):
        return None
    with in_netns(lab.target_ns):
        return UdpTransport(AGENT_HOST, AGENT_PORT)


def stand_up(lab: Lab) -> str:
    """``lab up``'s part: the standing agent started (with this ``tcpconform`` on its path) unless it
    runs, and the line that says so."""
    started = start(lab, agent_env())
    how = "started" if started else "running"
    return f"lab {lab.name}: Linux agent {how} on udp {AGENT_HOST}:{AGENT_PORT} in {lab.target_ns}"
