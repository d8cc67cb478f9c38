"""The Internet checksum (RFC 1071) and the pseudo-header the TCP checksum covers (RFC 9293 3.1, RFC 8200 8.1)."""

from __future__ import annotations

import functools
import ipaddress
import struct

_PSEUDO4 = struct.Struct("!BBH")
_PSEUDO6 = struct.Struct("!I3xB")


def internet_checksum(data: bytes | bytearray) -> int:
    """The Internet checksum (RFC 1071) of ``data``.

    The data read as one integer is, modulo 0xFFFF, the one's complement sum of its 16-bit words
    (2**16 is 1 modulo 0xFFFF): one C-level division instead of a sum over words.  Read
    little-endian (twice as fast as big-endian) it sums the byte-swapped words, 256 times the sum
    (RFC 1071 2(B)), and an odd last byte needs no zero after it.  The sum folds to 0xFFFF, not 0,
    unless every word is zero.
    """
    value = int.from_bytes(data, "little")
    rest = (value % 0xFFFF) * 256 % 0xFFFF
    return 0xFFFF - rest if rest or not value else 0


@functools.lru_cache(maxsize=4096)
def packed_address(text: str) -> bytes:
    """An IP address as bytes; the same few addresses are on every segment of a run."""
    return ipaddress.ip_address(text).packed


def pseudo_header(src: bytes, dst: bytes, protocol: int, length: int) -> bytes:
    """The IPv4 (4-byte addresses) or IPv6 pseudo-header of an upper-layer message of ``length`` bytes."""
    if len(src) == 4:
        return src + dst + _PSEUDO4.pack(0, protocol, length)
    return src + dst + _PSEUDO6.pack(length, protocol)
