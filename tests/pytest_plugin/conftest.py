"""The pytest plugin's tests drive pytest itself, with pytester, against copies of case files.

``pytester`` is switched on here in ``pytest_configure`` rather than with ``pytest_plugins``:
pytest refuses ``pytest_plugins`` in a conftest below the top of the suite.  The case files in
``fixtures/`` are inputs of those inner runs, so this suite must not collect them itself.
"""

from __future__ import annotations

import contextlib
import importlib

import pytest

collect_ignore = ["fixtures"]

PREIMPORTED = (
    "hypothesis",  # imported by its pytest plugin at the end of every run, when installed
    "tcpconform.cli", "tcpconform.report.console", "tcpconform.cases.load", "tcpconform.engine.run", "tcpconform.session",
    "tcpconform.report", "tcpconform.report.html", "tcpconform.report.junit", "tcpconform.report.pcap",
    "tcpconform.report.ladder",
)


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")


@pytest.fixture(scope="session", autouse=True)
def _modules_imported_once() -> None:
    """After each in-process run pytester forgets the modules that run imported, so each inner run
    would import them again (seconds, with assertion rewriting); imported here first, they stay."""
    for name in PREIMPORTED:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
