"""pcap files of a run: one per case (``pcap/<case id>.pcap``) and one for the whole run (``run.pcap``).

Classic pcap with nanosecond timestamps (magic ``0xa1b23c4d``), Ethernet link type, which Wireshark,
tshark and Scapy's ``rdpcap`` all read.  On a wire the frames are the exact bytes sent and received,
stamped with the kernel's receive times; an in-process run's frames are built from its segments
(:mod:`tcpconform.wire`) when a pcap is written, and stamped with the virtual clock offset to the
wall time the case began.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from pathlib import Path

from tcpconform.results import CaseResult, RunResult, SegmentRecord
from tcpconform.wire import encode
from tcpconform.wire.ethernet import TARGET_MAC, TESTER_MAC

MAGIC_NS = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
SNAPLEN = 262144


def write_pcap(path: Path, packets: Iterable[tuple[float, bytes]]) -> int:
    """Write ``(unix time, frame)`` pairs in order; returns how many were written."""
    count = 0
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", MAGIC_NS, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET))
        for at, frame in packets:
            sec = int(at)
            nsec = min(999_999_999, round((at - sec) * 1e9))
            out.write(struct.pack("<IIII", sec, nsec, len(frame), len(frame)))
            out.write(frame)
            count += 1
    return count


def wire_frame(record: SegmentRecord) -> bytes | None:
    """The frame on the wire, or the one the recorded segment would have been (kept on the record)."""
    if record.frame is not None or record.segment is None:
        return record.frame
    macs = (TESTER_MAC, TARGET_MAC) if record.direction == "out" else (TARGET_MAC, TESTER_MAC)
    record.frame = encode(record.segment, *macs)
    return record.frame


def case_packets(case: CaseResult, realtime: bool) -> list[tuple[float, bytes]]:
    """The case's frames with absolute times (wire runs: kernel times; in-process: virtual + wall start), in
    time order: the exchange lists a segment where a step took it, which may be after the tester's next send."""
    base = case.started if realtime else case.started_wall
    packets = [(base + rec.at, frame) for rec in case.segments if (frame := wire_frame(rec)) is not None]
    return sorted(packets, key=lambda packet: packet[0])


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def write_case_pcap(case: CaseResult, directory: Path, realtime: bool) -> list[tuple[float, bytes]]:
    """``pcap/<case>.pcap`` for a case with segments, and its ``pcap`` set (relative to ``directory``);
    returns the case's frames (none: no file, ``pcap`` None)."""
    packets = case_packets(case, realtime)
    if not packets:
        case.pcap = None
        return packets
    folder = directory / "pcap"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_safe(case.id)}.pcap"
    write_pcap(path, packets)
    case.pcap = str(path.relative_to(directory))
    return packets


def write_run_pcap(result: RunResult, directory: Path) -> Path:
    """``run.pcap``: every case's frames in time order."""
    realtime = result.meta.clock == "realtime"
    everything = [p for case in result.cases for p in case_packets(case, realtime)]
    everything.sort(key=lambda p: p[0])
    run_path = directory / "run.pcap"
    write_pcap(run_path, everything)
    return run_path


def write_case_pcaps(result: RunResult, directory: Path) -> Path:
    """``pcap/<case>.pcap`` for every case with segments, and ``run.pcap`` with all of them in time order;
    sets each case's ``pcap`` (relative to ``directory``).  Returns the run's pcap."""
    realtime = result.meta.clock == "realtime"
    for case in result.cases:
        write_case_pcap(case, directory, realtime)
    return write_run_pcap(result, directory)
