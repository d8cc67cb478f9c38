"""The reference responder on the wire interoperates with a stack we did not write: Linux's own."""

from __future__ import annotations

import subprocess
import sys
import time

from support.wirelab import needs_root

pytestmark = needs_root

CLIENT = r"""
import socket, sys
from tcpconform.tcp.payload import stream_bytes, TESTER_SALT, TARGET_SALT
s = socket.create_connection((sys.argv[1], 8000), timeout=5, source_address=(sys.argv[2], 0))
s.sendall(stream_bytes(0, 1024, TESTER_SALT))
got = b""
while len(got) < 700:
    chunk = s.recv(4096)
    if not chunk:
        break
    got += chunk
assert got == stream_bytes(0, 700, TARGET_SALT), (len(got), got[:8])
s.shutdown(socket.SHUT_WR)
assert s.recv(4096) == b""  # the responder's application closed after our FIN
s.close()
print("seed exchange complete")
"""


def test_a_kernel_client_completes_the_seed_exchange(lab) -> None:  # type: ignore[no-untyped-def]
    from tcpconform.lab.netns import ns_argv

    client_ip = lab.tester_ip.rsplit(".", 1)[0] + ".4"
    server = subprocess.Popen(
        ns_argv(lab.target_ns, [sys.executable, "-m", "tcpconform.cli", "responder", "--iface", lab.target_if,
                                "--ip", lab.reference_ip, "--port", "8000"]),
        stderr=subprocess.PIPE, text=True,
    )
    subprocess.run(["ip", "-n", lab.tester_ns, "addr", "add", f"{client_ip}/24", "dev", lab.tester_if], check=True)
    try:
        time.sleep(0.5)  # the responder opens its socket
        done = subprocess.run(ns_argv(lab.tester_ns, [sys.executable, "-c", CLIENT, lab.reference_ip, client_ip]),
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "seed exchange complete" in done.stdout
    finally:
        subprocess.run(["ip", "-n", lab.tester_ns, "addr", "del", f"{client_ip}/24", "dev", lab.tester_if])
        server.terminate()
        _, log = server.communicate(timeout=10)
    # The responder reports the server's side of the seed diagram as it happened.
    for state in ("SYN_RCVD", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED"):
        assert f"-> {state}" in log, log
