"""The lab fixture of the tests on real links (the rest is in :mod:`support.wirelab`)."""

from support.wirelab import lab

__all__ = ["lab"]
