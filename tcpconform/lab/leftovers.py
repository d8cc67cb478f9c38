"""Leftovers: finding and removing what a killed run left behind.

A run that ends by ``kill -9`` (or a crash of the machine) cannot remove what it created; every such
object carries the ``tcpc`` prefix, so :func:`leftovers` can find it and :func:`cleanup` remove it,
touching nothing else.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterable

from tcpconform.lab.netns import (
    PREFIX,
    delete_root_link,
    list_namespaces,
    ns_exists,
    ns_pids,
    ns_remove,
    process_line,
    root_links,
    stop_processes,
)


def _ns_exec(ns: str | None, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv] if ns else argv


def _matches(name: str, prefixes: tuple[str, ...]) -> bool:
    return name.startswith(prefixes)


def _prefixes(prefixes: Iterable[str] | None) -> tuple[str, ...]:
    """The name prefixes to consider; each must itself start with ``tcpc`` so nothing else is ever touched."""
    if prefixes is None:
        return (PREFIX,)
    out = tuple(prefixes)
    bad = [p for p in out if not p.startswith(PREFIX)]
    if bad or not out:
        raise ValueError(f"prefixes must start with {PREFIX!r}: {bad or out}")
    return out


def _nft_tables(ns: str | None) -> list[tuple[str, str]]:
    """``(family, name)`` of every nftables table with the prefix, in the host namespace or in ``ns``."""
    if shutil.which("nft") is None:
        return []
    argv = ["nft", "-j", "list", "tables"]
    try:
        proc = subprocess.run(_ns_exec(ns, argv), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if proc.returncode != 0:
        return []
    try:
        items = json.loads(proc.stdout).get("nftables", [])
    except ValueError:
        return []
    return sorted((t["table"]["family"], t["table"]["name"]) for t in items
                  if "table" in t and t["table"]["name"].startswith(PREFIX))


def _delete_nft_table(ns: str | None, family: str, name: str) -> bool:
    argv = ["nft", "delete", "table", family, name]
    proc = subprocess.run(_ns_exec(ns, argv), capture_output=True, text=True, check=False)
    return proc.returncode == 0


def leftovers(*, prefixes: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Everything of the project's that exists now, by kind.

    ``namespaces``: ``tcpc*`` network namespaces.  ``links``: ``tcpc*`` links in the host namespace.
    ``nft_tables``: ``tcpc*`` tables, ``"family name"`` in the host namespace and
    ``"ns: family name"`` inside a tcpc namespace.  ``processes``: ``"pid command line"`` of every
    process inside a tcpc namespace (only the project creates those, so only it starts them).

    ``prefixes`` narrows the search to names starting with one of them (each starting with
    ``tcpc``): a namespace or link by its name, a host table by its name; inside a matching
    namespace, every tcpc table and process.  Namespaces that do not match are not looked into:
    tests use this to see only what they created while other runs use other labs.
    """
    pre = _prefixes(prefixes)
    namespaces = [ns for ns in list_namespaces() if _matches(ns, pre)]
    tables = [f"{fam} {name}" for fam, name in _nft_tables(None) if _matches(name, pre)]
    processes = []
    for ns in namespaces:
        if ns_exists(ns):
            tables += [f"{ns}: {fam} {name}" for fam, name in _nft_tables(ns)]
            processes += [f"{process_line(pid)}  [{ns}]" for pid in ns_pids(ns)]
    return {
        "namespaces": namespaces,
        "links": [ifname for ifname in root_links() if _matches(ifname, pre)],
        "nft_tables": tables,
        "processes": processes,
    }


def cleanup(*, prefixes: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Remove what :func:`leftovers` finds; returns what was removed, in the same shape.

    Order matters: processes first (they pin namespaces), then firewall tables (a table in the host
    namespace outlives everything else), then links, then namespaces.  Safe to run twice and while
    nothing is left.  ``prefixes`` narrows it as for :func:`leftovers`; without it, *every* tcpc
    lab goes, including one another run is using.
    """
    pre = _prefixes(prefixes)
    removed: dict[str, list[str]] = {"namespaces": [], "links": [], "nft_tables": [], "processes": []}
    mine = [ns for ns in list_namespaces() if _matches(ns, pre)]
    for ns in mine:
        if ns_exists(ns):
            removed["processes"] += [f"{line}  [{ns}]" for line in stop_processes(ns)]
    for fam, name in _nft_tables(None):
        if _matches(name, pre) and _delete_nft_table(None, fam, name):
            removed["nft_tables"].append(f"{fam} {name}")
    for ns in mine:
        if ns_exists(ns):
            for fam, name in _nft_tables(ns):
                if _delete_nft_table(ns, fam, name):
                    removed["nft_tables"].append(f"{ns}: {fam} {name}")
    for ifname in root_links():
        if _matches(ifname, pre) and delete_root_link(ifname):
            removed["links"].append(ifname)
    for ns in mine:
        if ns_exists(ns):
            # The veth ends first: a namespace pinned by some open socket would otherwise keep them.
            for ifname in _links_in(ns):
                subprocess.run(["ip", "-n", ns, "link", "del", "dev", ifname], capture_output=True, check=False)
        if ns_remove(ns):
            removed["namespaces"].append(ns)
    return removed


def removed_lines(removed: dict[str, list[str]]) -> list[str]:
    """What :func:`cleanup` removed, one line each, and how much."""
    lines = [f"removed {kind[:-1]}: {name}" for kind, names in removed.items() for name in names]
    return [*lines, f"{len(lines)} item(s) removed" if lines else "nothing to clean up"]


def _links_in(ns: str) -> list[str]:
    proc = subprocess.run(["ip", "-n", ns, "-o", "link", "show"], capture_output=True, text=True, check=False)
    names = []
    for line in proc.stdout.splitlines():
        m = re.match(r"\d+:\s+([^:@\s]+)", line)
        if m and m.group(1).startswith(PREFIX):
            names.append(m.group(1))
    return names


def format_report(report: dict[str, list[str]]) -> str:
    """One line per item, grouped by kind; ``nothing`` when empty."""
    lines = [f"{kind}: {item}" for kind, items in report.items() for item in items]
    return "\n".join(lines) if lines else "nothing"
