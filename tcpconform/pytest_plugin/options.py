"""The plugin's command-line options: the CLI's ``run`` options under ``--tcpconform-*`` names.

Mistakes in them are usage errors before collection, not a failure of the first case; the
session's messages, which speak of the CLI's flags, are reworded with the flags the user typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["PluginOptions", "add_options", "check_options", "our_flags"]


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("tcpconform", "tcpconform: run TCP conformance case files (*.yaml)")
    group.addoption("--tcpconform-lab", choices=["linux", "reference"], default=None,
                    help="Run in the network lab against Linux's TCP or the responder on the wire (root).")
    group.addoption("--tcpconform-lab-name", default="0", metavar="NAME", help="Which lab (default: 0).")
    group.addoption("--tcpconform-target", default=None, metavar="IP", help="A device on a wire: its IPv4 address (root).")
    group.addoption("--tcpconform-port", type=int, default=None, metavar="PORT",
                    help="The target's TCP port (default 8000 for the bundled responder and the lab).")
    group.addoption("--tcpconform-iface", default=None, metavar="IF", help="Interface towards the target.")
    group.addoption("--tcpconform-source-ip", default=None, metavar="IP", help="Tester address (default: the interface's).")
    group.addoption("--tcpconform-service", action="append", default=[], metavar="NAME[=PORT]",
                    help="What a --tcpconform-target's application does without an agent (repeatable, "
                         "NAME=PORT for several; default: echo on --tcpconform-port).")
    group.addoption("--tcpconform-fault", action="append", default=[], metavar="NAME",
                    help="Switch on a reference-responder fault (repeatable).")
    group.addoption("--tcpconform-profile", default=None, metavar="NAME",
                    help="Target profile: reference or generic (default: fits the target).")
    group.addoption("--tcpconform-restart", default=None, metavar="CMD",
                    help="When the target stops answering, run CMD (shell syntax; '' for nothing but the bundled "
                         "responder's own restart), wait until it answers and go on (default: the cases after it "
                         "are not run).")
    group.addoption("--tcpconform-restart-wait", type=float, default=None, metavar="SECONDS",
                    help="Seconds to wait, after --tcpconform-restart, for the target to answer again (default: 30).")
    group.addoption("--tcpconform-report-dir", default=None, metavar="DIR",
                    help="Write results.json (and junit.xml, report.html, pcaps) for the cases run.")


@dataclass(frozen=True)
class PluginOptions:
    lab: str | None
    lab_name: str
    target: str | None
    port: int | None
    iface: str | None
    source_ip: str | None
    services: tuple[str, ...]
    faults: tuple[str, ...]
    profile: str | None
    report_dir: Path | None
    restart: str | None = None
    restart_wait: float | None = None

    @classmethod
    def from_config(cls, config: pytest.Config) -> PluginOptions:
        get = config.getoption
        report_dir = get("tcpconform_report_dir")
        return cls(get("tcpconform_lab"), get("tcpconform_lab_name"), get("tcpconform_target"),
                   get("tcpconform_port"), get("tcpconform_iface"), get("tcpconform_source_ip"),
                   tuple(get("tcpconform_service") or ()), tuple(get("tcpconform_fault") or ()), get("tcpconform_profile"),
                   Path(report_dir) if report_dir else None, get("tcpconform_restart"),
                   get("tcpconform_restart_wait"))

    @property
    def customised(self) -> bool:
        """Anything but the default target: worth checking before collection, not at the first case."""
        return bool(self.lab or self.target or self.port or self.iface or self.source_ip or self.faults
                    or self.profile or self.services)


_CLI_FLAG = re.compile(r"--(lab|target|port|iface|source-ip|service|fault|profile)(?![\w-])")


def our_flags(message: str) -> str:
    """The session speaks of the CLI's ``--lab``; under pytest the user typed ``--tcpconform-lab``."""
    return _CLI_FLAG.sub(r"--tcpconform-\1", message)


def check_options(options: PluginOptions) -> None:
    """Mistakes in the options are usage errors before collection, not a failure of the first case."""
    # imported here: pytest loads the plugin in every session of the environment, most never run a case
    from tcpconform.cases.profiles import get_profile
    from tcpconform.responder.faults import FAULTS
    from tcpconform.session import SessionError, open_session

    for name in options.faults:
        if name not in FAULTS:
            raise pytest.UsageError(f"unknown fault {name!r} (--tcpconform-fault); the reference responder knows: "
                                    + ", ".join(FAULTS))
    if options.profile is not None:
        try:
            get_profile(options.profile)
        except KeyError as err:
            raise pytest.UsageError(f"--tcpconform-profile: {err.args[0]}") from None
    try:  # checks how the options combine; nothing is opened until the returned manager is entered
        open_session(lab=options.lab, lab_name=options.lab_name, target=options.target, port=options.port,
                     iface=options.iface, source_ip=options.source_ip, services=options.services, faults=options.faults)
    except SessionError as err:
        raise pytest.UsageError(our_flags(str(err))) from None
