"""Links: how segments reach the target.  See :mod:`tcpconform.links.base`."""

from tcpconform.links.base import Link, Received

__all__ = ["Link", "Received"]
