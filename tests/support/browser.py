"""Headless Chromium for the tests that check a report page as a browser renders it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def browser(args: list[str], profile: Path) -> subprocess.CompletedProcess[bytes]:
    """Chromium run headless with ``args``, its profile in ``profile`` (a test's own folder)."""
    found = chromium()
    assert found is not None
    return subprocess.run(
        [found, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}", *args],
        capture_output=True, timeout=120, check=False)
