"""An interface that goes away during a run is the environment's doing: a clear setup error, never a traceback."""

from __future__ import annotations

import errno

import pytest

from tcpconform.links.packet_socket import LinkSetupError, PacketSocket


class _GoneSocket:
    def __init__(self, code: int) -> None:
        self.code = code

    def send(self, frame: bytes) -> int:
        raise OSError(self.code, "gone")


@pytest.mark.parametrize("code", [errno.ENXIO, errno.ENODEV, errno.ENETDOWN])
def test_sending_on_a_removed_interface_is_a_setup_error_naming_it(code: int) -> None:
    packets = object.__new__(PacketSocket)
    packets.iface = "tcpc7-t"
    packets.sock = _GoneSocket(code)  # type: ignore[assignment]
    with pytest.raises(LinkSetupError, match="tcpc7-t went away or went down during the run"):
        packets.send(b"\0" * 60)
