"""The ``setsockopt NAME VALUE`` application step of a case file, read into a :class:`SockOpt`.

Only the options of :data:`tcpconform.tcp.sockopts.SOCKET_OPTIONS` are accepted, so a misspelt name
is a mistake at its line (with the closest known name), never a surprise from an agent mid-run.
"""

from __future__ import annotations

import re

from tcpconform.cases.model import SockOpt
from tcpconform.cases.values import did_you_mean
from tcpconform.tcp.sockopts import MAX_VALUE, SOCKET_OPTIONS

USAGE = "setsockopt takes an option name and an integer value: 'setsockopt TCP_NODELAY 1'"


GET_USAGE = "getsockopt takes an option name and the least value it must read: 'getsockopt TCP_KEEPIDLE >= 7200'"


def getsockopt(words: list[str]) -> SockOpt | str:
    """The option ``words`` (name, ``>=``, value) read and its least value; else what is wrong with them."""
    if len(words) != 3 or words[1] != ">=":
        return GET_USAGE
    return sockopt([words[0], words[2]])


def sockopt(words: list[str]) -> SockOpt | str:
    """The option ``words`` (name, value) set; else what is wrong with them, as a loader message."""
    if len(words) != 2:
        return USAGE
    name, value = words
    if name not in SOCKET_OPTIONS:
        return f"unknown socket option {name!r}{did_you_mean(name, SOCKET_OPTIONS)} (known: {', '.join(SOCKET_OPTIONS)})"
    if not re.fullmatch("[0-9]{1,10}", value) or int(value) > MAX_VALUE:
        return f"the value of {name} is an integer from 0 to {MAX_VALUE:,}"
    return SockOpt(name, int(value))
