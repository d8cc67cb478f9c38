"""Start-up: commands that need no wire never import Scapy; an in-process run does not either."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["list", "-k", "seed"],
                                  ["run", "-q", "seed-handshake", "--report-dir", "{tmp}"]])
def test_no_scapy_without_a_wire(argv: list[str], tmp_path: Path) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    probe = (
        "import sys\n"
        "from tcpconform.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('SCAPY', sorted(m for m in sys.modules if m.split('.')[0] == 'scapy'))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert "SCAPY []" in out
