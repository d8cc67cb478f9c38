"""A lab's resident tester: a ``tcpconform`` process with its imports done, that runs each
``tcpconform run --lab ... --lab-name NAME`` in a child forked for it.

A run of one short case spends most of its wall time before the first segment (Python's start,
some 150 modules, the catalogue); the resident tester has paid for that once, when ``lab up`` started
it, and :func:`connect` is how the ``tcpconform`` command finds it (:mod:`tcpconform.launch`).

Where it lives, and why: inside the lab's tester namespace, so ``lab down``, ``tcpconform cleanup``
and every test's leftover check see it and stop it as any process of the lab (nothing to name,
no file to remove), and on an abstract unix socket, :data:`SOCKET_NAME` in that namespace, which
vanishes with the process: no stale socket file, unreachable from any other namespace (an abstract
address belongs to the network namespace the socket was made in).  Each child moves back to the
namespace the resident tester was started from before it runs, so a run behaves as one started
from the shell.

Invariants: only root can enter the namespace, so only root can reach it (as only root can run
the tester at all); the lab's namespaces are named by :func:`tcpconform.lab.netns.lab_namespaces` alone.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from typing import TYPE_CHECKING

from tcpconform.lab.netns import NETNS_DIR, LabError, lab_namespaces, setns, thread_netns

if TYPE_CHECKING:
    from tcpconform.lab.spec import Lab

__all__ = ["MODULE", "SOCKET_NAME", "connect", "listen", "start"]

SOCKET_NAME = "tcpc-resident"
"""The abstract unix address (``\\0`` + this) the resident tester listens on in the tester namespace."""
MODULE = "tcpconform.launch"
"""The module ``python -m`` runs as the resident tester (``--resident NAME``)."""


def _address() -> bytes:
    return b"\0" + SOCKET_NAME.encode()


def connect(name: str) -> socket.socket | None:
    """A connection to lab ``name``'s resident tester, or None: no such lab, none running, not root."""
    try:
        tester_ns = lab_namespaces(name)[0]
    except LabError:
        return None
    try:
        target = os.open(os.path.join(NETNS_DIR, tester_ns), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        home = thread_netns()
        try:
            setns(target)
        except OSError:
            os.close(home)
            return None
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        finally:
            setns(home)
            os.close(home)
    finally:
        os.close(target)
    try:
        sock.connect(_address())
    except OSError:
        sock.close()
        return None
    return sock


def listen() -> socket.socket:
    """The resident tester's listening socket, in the calling thread's namespace."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.bind(_address())
        sock.listen(16)
    except OSError:
        sock.close()
        raise
    return sock


def start(lab: Lab, env: dict[str, str]) -> str:
    """``lab up``'s part: start lab ``lab``'s resident tester unless one answers; the line that says so.

    Not waited for: it serves once its imports are done (about a second), and until then a run
    simply runs in its own process.  It enters the tester namespace itself (not ``ip netns exec``,
    which would give it a mount namespace of its own, and its children with it).
    """
    import subprocess

    probe = connect(lab.name)
    if probe is not None:
        probe.close()
        return f"lab {lab.name}: resident tester running in {lab.tester_ns}"
    with contextlib.suppress(OSError):
        subprocess.Popen([sys.executable, "-m", MODULE, "--resident", lab.name], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)
        return f"lab {lab.name}: resident tester started in {lab.tester_ns} (runs on this lab start from it)"
    return f"lab {lab.name}: no resident tester (runs start on their own)"
