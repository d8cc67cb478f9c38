"""What a run in a kept lab forgets of earlier runs: the path MTUs a packet-too-big taught the target."""

from __future__ import annotations

import subprocess
from pathlib import Path

from click.testing import CliRunner
from support.lab import needs_root

from tcpconform.cli import main
from tcpconform.lab.lab import forget_paths
from tcpconform.lab.spec import Lab


def cached(lab: Lab, family: str) -> str:
    return subprocess.run(["ip", "-n", lab.target_ns, family, "route", "show", "cache"], capture_output=True, text=True,
                          check=True).stdout


@needs_root
def test_a_run_forgets_what_packet_too_big_taught_the_target_before(lab7: Lab, tmp_path: Path) -> None:
    def run(*extra: str) -> None:
        out = CliRunner().invoke(main, ["run", "--lab", "linux", "--lab-name", lab7.name, *extra, "--report-dir",
                                        str(tmp_path / "reports"), "icmp-ptb-shrinks-segments"])
        assert out.exit_code == 0, out.output

    run("--ipv6")
    assert "mtu 1280" in cached(lab7, "-6")  # what the case's packet-too-big left
    run()
    assert "mtu" not in cached(lab7, "-6")  # forgotten as the run began
    assert "mtu 1280" in cached(lab7, "-4")
    forget_paths(lab7)
    assert "mtu" not in cached(lab7, "-4")
