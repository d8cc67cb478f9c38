"""An ``app`` step's value -> its action and argument: the checks the schema cannot make.

Invariant: every value is either an action of :data:`APP_ACTIONS` with its argument (a byte count
for ``read``/``write``, a :class:`~tcpconform.cases.model.SockOpt` for ``setsockopt``/``getsockopt``,
``None`` otherwise) or an :class:`AppMistake` whose message names what was expected and what was
given; a mistake without a message is one the schema has reported already.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tcpconform.cases.model import SockOpt
from tcpconform.cases.sockopt import getsockopt, sockopt
from tcpconform.cases.values import did_you_mean, quoted

__all__ = ["APP_ACTIONS", "APP_HELP", "MAX_APP_BYTES", "AppMistake", "app_action"]

APP_ACTIONS = ("listen", "unlisten", "connect", "close", "shutdown", "read", "write", "setsockopt", "getsockopt", "read-eof",
               "read-reset")
MAX_APP_BYTES = 1 << 24
"""The most bytes one read or write may name (16 MiB): far beyond any window, and its stream fits in memory."""
APP_HELP = ("listen, unlisten, connect, close, shutdown, 'read N', 'write N', read-eof, read-reset, 'setsockopt NAME VALUE' "
            "or 'getsockopt NAME >= VALUE'")


@dataclass(frozen=True, slots=True)
class AppMistake:
    """Why an ``app`` value was refused; ``key`` the path below the step's value it is about."""

    message: str
    key: tuple[str, ...] = ()


def app_action(value: Any) -> tuple[str, int | SockOpt | None] | AppMistake:
    """``listen``, ``unlisten``, ``connect``, ``close``, ``shutdown``, ``read N``/``write N [urgent]``,
    ``{read: N}``/``{write: N}``, ``read-eof``, ``read-reset``, ``setsockopt NAME VALUE`` or
    ``getsockopt NAME >= VALUE``."""
    if isinstance(value, dict):
        items = [(k, v) for k, v in value.items() if k in ("read", "write") and isinstance(v, int)]
        if len(items) != 1 or len(value) != 1:
            return AppMistake("")  # reported by the schema
        if items[0][1] > MAX_APP_BYTES:
            return AppMistake(f"expected at most {MAX_APP_BYTES:,} bytes (got {items[0][1]})", (items[0][0],))
        return items[0]
    if not isinstance(value, str):
        return AppMistake("")
    words = value.split()
    action = words[0] if words else ""
    if action not in APP_ACTIONS:
        return AppMistake(f"expected {APP_HELP} (got {quoted(value)}){did_you_mean(action, APP_ACTIONS)}")
    words = words[:2] if action == "write" and words[2:] == ["urgent"] else words
    if action in ("read", "write"):
        if len(words) != 2 or not re.fullmatch("[0-9]{1,20}", words[1]) or not 0 < int(words[1]) <= MAX_APP_BYTES:
            return AppMistake(f"{action} needs a byte count from 1 to {MAX_APP_BYTES:,}: '{action} N' (got {quoted(value)})")
        return action, int(words[1])
    if action in ("setsockopt", "getsockopt"):
        option = (sockopt if action == "setsockopt" else getsockopt)(words[1:])
        return AppMistake(f"{option} (got {quoted(value)})") if isinstance(option, str) else (action, option)
    if len(words) != 1:
        return AppMistake(f"{action} takes no argument (got {quoted(value)})")
    return action, None
