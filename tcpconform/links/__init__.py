"""Links: how segments reach the target.  See :mod:`tcpconform.links.base`."""

from tcpconform.links.base import Clock, Link, Received, Sent

__all__ = ["Clock", "Link", "Received", "Sent"]
