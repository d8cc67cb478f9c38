"""Ethernet II: the EtherTypes the tester speaks and the MAC address in its two spellings.

A MAC address is text (``02:00:00:00:00:01``) wherever a person or a segment's frame sees it, and
six bytes only inside a frame.
"""

from __future__ import annotations

import functools

ETH_P_ALL = 0x0003
"""The packet-socket protocol that receives every EtherType."""
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
HEADER_LEN = 14

TESTER_MAC = "02:00:00:00:00:01"
TARGET_MAC = "02:00:00:00:00:02"
"""The MAC addresses of the frames of a run without a wire (its pcap)."""


@functools.lru_cache(maxsize=256)
def mac_bytes(text: str) -> bytes:
    """``02:00:00:00:00:01`` as the six bytes a frame carries."""
    return bytes.fromhex(text.replace(":", ""))


def mac_text(raw: bytes) -> str:
    """Six bytes of a frame as ``02:00:00:00:00:01``."""
    return raw.hex(":")


def addresses(frame: bytes) -> tuple[str, str]:
    """The source and destination MAC addresses of an Ethernet frame."""
    return mac_text(frame[6:12]), mac_text(frame[0:6])
