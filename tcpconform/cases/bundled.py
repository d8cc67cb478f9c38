"""Where the bundled test cases live, in a checkout and in an installed package alike."""

from __future__ import annotations

import os
from pathlib import Path


def bundled_cases() -> Path:
    """``$TCPCONFORM_CASES``, else the checkout's ``testcases/``, else the copy installed with the package."""
    env = os.environ.get("TCPCONFORM_CASES")
    if env:
        return Path(env)
    package = Path(__file__).resolve().parents[1]
    checkout = package.parent / "testcases"
    found = checkout if checkout.is_dir() else package / "bundled_cases"
    try:  # shown in every file:line, so keep it short where it can be
        return found.relative_to(Path.cwd())
    except ValueError:
        return found
