"""The reference agent in C (``agents/c/tcpc_agent.c``): where its source is, and building it.

The C agent is the shape an embedded port of the agent follows (one file, no allocation after
start, a porting layer); here it is built for this host, so the tests and the lab can run it against
the kernel's TCP like the Linux agent::

    from tcpconform.targets.agent.c import build, argv
    binary = build(Path("/tmp/agent"))
    AgentTarget(argv(binary), "C agent", ip, port)            # stdin/stdout
    AgentTarget(argv(binary, netns=lab.target_ns), ...)        # in the lab, against the lab's kernel
    # or: binary -u 192.0.2.9:4242, then --agent udp:192.0.2.9:4242

The source lives in the source tree (``agents/c/``), not in the installed package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tcpconform.errors import SetupError

SOURCE = Path(__file__).resolve().parents[3] / "agents" / "c" / "tcpc_agent.c"
CFLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-O2")
"""The flags the agent must build clean with: C99, every warning an error."""
BUILD_TIMEOUT = 120.0


class BuildError(SetupError):
    """The C agent could not be built: no compiler, no source, or the compiler's complaint."""


def compiler() -> str | None:
    """The C compiler to use: ``$CC``, else ``cc``, else ``gcc``, else ``clang``; ``None`` if none."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def build(dest: Path, cc: str | None = None, flags: tuple[str, ...] = CFLAGS, source: Path = SOURCE) -> Path:
    """Compile ``source`` into ``dest``/tcpc_agent and return the binary's path."""
    cc = cc or compiler()
    if cc is None:
        raise BuildError("no C compiler (cc, gcc or clang; scripts/install-system-packages installs gcc)")
    if not source.is_file():
        raise BuildError(f"the C agent's source is not at {source} (it is in tcpconform's source tree, agents/c/)")
    dest.mkdir(parents=True, exist_ok=True)
    binary = dest / "tcpc_agent"
    try:
        done = subprocess.run([cc, *flags, "-o", str(binary), str(source)], capture_output=True, text=True,
                              timeout=BUILD_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise BuildError(f"{cc} could not build {source}: {err}") from None
    if done.returncode != 0:
        raise BuildError(f"{cc} {' '.join(flags)} failed on {source}:\n{done.stderr.strip() or done.stdout.strip()}")
    return binary


def argv(binary: Path, udp: str | None = None, netns: str | None = None) -> list[str]:
    """The agent's command line: on stdin/stdout, or (``udp`` ``IP:PORT``) serving UDP there; inside
    network namespace ``netns`` if given (the lab's target namespace, as for the Linux agent)."""
    agent = [str(binary), *(["-u", udp] if udp else [])]
    return ["ip", "netns", "exec", netns, *agent] if netns else agent
