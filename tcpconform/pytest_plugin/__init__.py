"""pytest plugin: tcpconform case files collected and run as pytest items.

``pytest testcases/`` runs the cases as pytest tests, so they compose with what pytest already
offers: selection (``-k teardown``, ``-m must``, ``-m "area_seed and not should"``), ``--lf``,
``-x``, ``--junitxml``, pytest-html.  A verdict is the engine's, exactly as ``tcpconform run``
gives it; the plugin only maps it onto pytest's outcomes:

========  =====================================================================================
pass      the test passes
skip      ``pytest.skip`` with the case's reason (the target lacks a capability the case needs)
fail      the test fails; the failure shows the console's failure block (step ``file:line``, RFC
          clause and level, every mismatching field, expected and observed segments, the
          exchange), never a Python traceback
error     the test fails the same way, headed ``ERROR`` (the case or the tester could not run it)
========  =====================================================================================

**Which files are case files.**  The plugin is installed for every pytest run in the environment,
so it must not read or claim other projects' YAML.  A ``.yaml``/``.yml`` file is collected when
its first 64 KiB hold a top-level ``id:`` line *and* a top-level ``steps:`` line (both at column
0).  A file named on the command line needs only one of the two, so that a case file with a
misspelt ``id`` or ``steps`` key is reported rather than silently ignored.  A case file that fails
to load is a *collection error* listing every mistake as ``file:line:column: field: why``.

**Markers.**  Every case carries ``tcpconform``, its level (``must``, ``should``, ``may``), its area
as ``area_<name>`` and each of its tags (names reduced to letters, digits and ``_``).  They are
registered, so ``--strict-markers`` accepts them; area and tag markers are registered as the
files are collected, so ``pytest --markers`` lists only the fixed ones.

**The target** is chosen by the ``--tcpconform-*`` options, the CLI's ``run`` options under longer
names (``pytest --help``, group "tcpconform"); by default the in-process reference responder, which
needs no privileges.  It is opened once, at the first case that runs (collecting alone opens
nothing), and closed when the session ends, however it ends (Ctrl-C included).  A target that
cannot be set up stops the session with the reason and pytest's usage-error exit status (4).

**Reports.**  ``--tcpconform-report-dir DIR`` writes the same reports as ``tcpconform run``
(``results.json``, ``junit.xml``, ``report.html`` and pcaps) for the cases this session ran.
``--junitxml`` carries each case's level, RFC references and failed level as properties; with
pytest-html (``--html``), each case gets its exchange as a ladder diagram.  Under pytest-xdist each
worker runs its own target and the report directory is not written (use ``--junitxml``).

Disable the plugin with ``-p no:tcpconform``.

The hooks live here; the options are in :mod:`.options`, collection and items in :mod:`.items`,
the target and the results in :mod:`.runner`.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from tcpconform.pytest_plugin.items import CASE_SUFFIXES, CaseFile, CaseItem, is_case_file
from tcpconform.pytest_plugin.options import PluginOptions, add_options, check_options
from tcpconform.pytest_plugin.runner import FIXED_MARKERS, find_runner, install


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for name, doc in FIXED_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")
    options = PluginOptions.from_config(config)
    if options.customised:
        check_options(options)
    install(config, options)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    runner = find_runner(session.config)
    if runner is None:
        return
    runner.close()
    directory = runner.options.report_dir
    if directory is not None and runner.results and not hasattr(session.config, "workerinput"):
        runner.write_reports(directory)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    runner = find_runner(config)
    if runner is None or not runner.notes:
        return
    terminalreporter.write_sep("-", f"tcpconform: {len(runner.results)} case(s) run")
    for line in runner.notes:
        terminalreporter.write_line(line)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> CaseFile | None:
    if file_path.suffix not in CASE_SUFFIXES:
        return None
    if not is_case_file(file_path, parent.session.isinitpath(file_path)):
        return None
    return CaseFile.from_parent(parent, path=file_path)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """With pytest-html writing a report, each case's exchange goes into it as a ladder diagram."""
    outcome = yield
    if call.when != "call" or not isinstance(item, CaseItem) or item.tcpconform_result is None:
        return
    html = item.config.pluginmanager.getplugin("html")
    if html is None or not item.config.getoption("htmlpath", None):
        return
    from tcpconform.report.ladder import ladder_svg  # only for a session that writes pytest-html
    report = outcome.get_result()
    try:
        svg = ladder_svg(item.tcpconform_result)
    except Exception as err:  # a diagram that cannot be drawn must not turn into a failed test
        item.warn(pytest.PytestWarning(f"tcpconform: no ladder diagram for {item.case.id}: {err}"))
        return
    extras = getattr(report, "extras", [])
    extras.append(html.extras.html(svg))
    report.extras = extras
