"""SYN to SYN-ACK against the lab's Linux: through the driver, and through the kernel's own ``connect()``.

Both go to one listener in the target namespace.  The kernel client needs an address its own
kernel owns, and the driver's must stay one no kernel owns (else that kernel would answer the
target's segments with resets), so the client gets a separate address on the tester's veth, for
the measurement only.  ``connect()`` returns once the SYN-ACK is in and the ACK sent: the driver's
comparable figure is the time until Python has the SYN-ACK in hand.
"""

from __future__ import annotations

import contextlib
import random
import socket
import statistics
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

from tcpconform.tcp.segment import Flags, Segment

PORT = 9000


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(samples: list[float]) -> str:
    if not samples:
        return "no sample"
    return f"median {statistics.median(samples) * 1e6:.0f} us, p99 {percentile(samples, 0.99) * 1e6:.0f} us"


@contextlib.contextmanager
def _listener(lab: Any) -> Iterator[None]:
    """A listening socket of the target's kernel, accepting and closing whatever completes."""
    from tcpconform.lab.netns import in_netns

    with in_netns(lab.target_ns):
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((lab.linux_ip, PORT))
    server.listen(1024)
    server.settimeout(0.1)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.close()
            except (TimeoutError, OSError):
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        server.close()


@contextlib.contextmanager
def _client_address(lab: Any) -> Iterator[str]:
    """A second address on the tester's veth, owned by the tester namespace's kernel while the block runs:
    .6, the first the lab leaves free (.2 and .4 are Linux's, .3 and .5 the responder's)."""
    from tcpconform.lab.netns import run_in_ns

    ip = lab.tester_ip.rsplit(".", 1)[0] + ".6"
    run_in_ns(lab.tester_ns, ["ip", "addr", "add", f"{ip}/{lab.prefixlen}", "dev", lab.tester_if])
    try:
        yield ip
    finally:
        run_in_ns(lab.tester_ns, ["ip", "addr", "del", f"{ip}/{lab.prefixlen}", "dev", lab.tester_if], check=False)


def _driver(lab: Any, count: int) -> tuple[list[float], list[float]]:
    from tcpconform.links.rawsock import RawEndpoint, RawSocketLink

    endpoint = RawEndpoint(lab.tester_if, lab.tester_ip, netns=lab.tester_ns, peer_ip=lab.linux_ip)
    link = RawSocketLink(endpoint, lab.linux_ip)
    kernel_times, seen_times = [], []
    base = random.randrange(20000, 60000 - count)
    try:
        for i in range(count):
            syn = Segment(lab.tester_ip, lab.linux_ip, base + i, PORT, seq=1000, flags=Flags.SYN, window=64240,
                          options=(("MSS", 1460), ("SAckOK", None), ("Timestamp", (1, 0)), ("NOP", None),
                                   ("WScale", 7)))
            t = time.perf_counter()
            sent = link.send(syn).at
            got = link.receive(1.0)
            while got is not None and not got.segment.flags & Flags.SYN:
                got = link.receive(1.0)
            seen = time.perf_counter() - t
            if got is None:
                continue
            kernel_times.append(got.at - sent)
            seen_times.append(seen)
            link.send(Segment(syn.src, syn.dst, syn.sport, syn.dport, seq=1001, flags=Flags.RST))
    finally:
        link.close()
    return kernel_times, seen_times


def _kernel(lab: Any, client_ip: str, count: int) -> list[float]:
    from tcpconform.lab.netns import in_netns

    times = []
    for _ in range(count):
        with in_netns(lab.tester_ns):
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
            client.bind((client_ip, 0))
            client.settimeout(1.0)
            t = time.perf_counter()
            client.connect((lab.linux_ip, PORT))
            times.append(time.perf_counter() - t)
        except OSError:
            continue
        finally:
            client.close()
    return times


def handshake_figures(lab: Any, count: int) -> Iterator[str]:
    """SYN to SYN-ACK, median and p99: driver (kernel timestamps, and as Python sees it) vs ``connect()``."""
    with _listener(lab):
        kernel_stamped, seen = _driver(lab, count)
        with _client_address(lab) as client_ip:
            _kernel(lab, client_ip, 5)  # ARP for the client's address, out of the figures
            connects = _kernel(lab, client_ip, count)
    yield f"SYN to SYN-ACK, lab Linux listener, {count} tries each:"
    yield f"  driver, kernel send to kernel receive timestamp: {_summary(kernel_stamped)}"
    yield f"  driver, until the engine has the SYN-ACK:        {_summary(seen)}"
    yield f"  kernel socket connect() (SYN to SYN-ACK + ACK): {_summary(connects)}"
    if seen and connects:
        yield f"  driver / connect(): {statistics.median(seen) / statistics.median(connects):.2f}x (medians)"
