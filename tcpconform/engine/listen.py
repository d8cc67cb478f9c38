"""An ``app: connect`` step on a device that connects by itself (``tcpconform run --listen``).

The step arms the listening link for the case's connection (:meth:`~tcpconform.targets.device.DeviceTarget.app_connect`)
and waits, up to the run's ``--listen-wait`` from when it is the first case in line (cases
armed together get the device's SYNs in the order they armed), for the device's next SYN; the SYN is given back to
the step after it (the case's ``expect`` judges it, as it judges an agent-driven connect's).  No
SYN in that time is the set-up's problem, not the TCP's: the case errors, saying so.  A SYN the
device first sent before the case waited (so the one the case sees is its retransmission) is
said in the step's message, since a case timing retransmissions then starts from a later one.
"""

from __future__ import annotations

from tcpconform.engine.env import StepEnv
from tcpconform.engine.outcome import CaseError, CaseUnobservable
from tcpconform.engine.waits import Waiting
from tcpconform.links.base import Received
from tcpconform.results import StepResult
from tcpconform.targets.base import OptionUnsupported
from tcpconform.targets.device import DeviceTarget

IN_LINE_POLL = 0.5
"""How often (seconds) a case waiting behind others checks whether its turn has come."""


def device_connects(env: StepEnv, target: DeviceTarget, sres: StepResult) -> Waiting[Received]:
    """Wait for the device's next SYN on the case's connection; it stays unread for the next step."""
    key, link = env.key, env.link
    try:
        target.app_connect(key, "port" if env.case.address == "unbound" else "address")
    except OptionUnsupported as err:  # told to bind or connect where a device connecting by itself does not
        raise CaseUnobservable(str(err)) from None
    start = link.now()
    while True:
        since = target.listen.first_in_line_since(key)
        deadline = (link.now() if since is None else since) + target.wait
        got = yield from env.next(deadline if since is not None else min(deadline, link.now() + IN_LINE_POLL))
        if got is not None or (since is not None and link.now() >= deadline):
            break
    if got is None:
        target.listen.release(key)
        raise CaseError(f"no SYN from the device {target.ip} to {target.listen.where} within {target.wait:g} s: "
                        "is it connecting there (and retrying after a refused or reset connection)? "
                        "A slower device needs a longer --listen-wait")
    env.unread([got])
    accepted = target.listen.accepted(key)
    real = f" from port {accepted.real.dport}" if accepted is not None else ""
    sres.message = f"implied: the device connected by itself{real}, {got.at - start:.3f} s after the case began waiting"
    if accepted is not None and accepted.first_seen is not None:
        sres.message += (f"; its SYN was first sent {got.at - accepted.first_seen:.3f} s before (no case was waiting), "
                         "so this one is a retransmission")
    env.t_ref = got.at
    return got
