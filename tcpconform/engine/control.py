"""The steps that act on the target itself: its application (``app``) and its TCP state (``state``).

Without an agent, what a service does by itself stands in (:mod:`tcpconform.targets.service`): an
echo's ``app write`` is played by sending it the bytes, other implied actions need nothing, and a
state is judged from the wire (:mod:`tcpconform.engine.probe`).
"""

from __future__ import annotations

from typing import Literal, assert_never

from tcpconform.cases.model import AppStep, StateStep
from tcpconform.engine import services, timing
from tcpconform.engine.env import StepEnv, transmit
from tcpconform.engine.ipsend import app_route
from tcpconform.engine.listen import device_connects
from tcpconform.engine.outcome import CaseError, CaseUnobservable, StepFailed, StepSkipped
from tcpconform.engine.probe import probe_state
from tcpconform.engine.waits import Waiting
from tcpconform.results import Mismatch, StepResult
from tcpconform.targets.base import AppFailed, Capability, OptionUnsupported
from tcpconform.targets.device import DeviceTarget
from tcpconform.tcp.payload import TARGET_SALT, TESTER_SALT, stream_bytes
from tcpconform.tcp.streamend import ReadEnd

POLL = 0.005
"""How often state and application reads are polled while waiting for them, in seconds."""


def app(env: StepEnv, step: AppStep, sres: StepResult) -> Waiting[None]:
    target, key = env.target, env.key
    sres.expected = f"application {step.action}" + (f" {step.count}" if step.count is not None else "") + (
        " urgent" if step.urgent else "") + (
        f" {step.sockopt.name} {'>= ' if step.action == 'getsockopt' else ''}{step.sockopt.value}" if step.sockopt
        is not None else "")
    if step.action == "connect" and isinstance(target, DeviceTarget):  # it connects by itself: wait for its SYN
        if env.case.route:
            raise CaseUnobservable("a device that connects by itself cannot be given a source route to connect on")
        yield from device_connects(env, target, sres)
        return
    if Capability.APP not in target.capabilities:  # a service that does this by itself (checked at start)
        if step.action == "write" and services.drives_write(target):
            yield from _drive_echo(env, step.count or 0, sres)
            return
        if step.action == "close" and env.conn.hold:
            update = services.release(env.conn, key, env.case.tester_window)
            env.t_sent = transmit(env, update, sres.index, "the window opened: the echo sends what it held, then closes")
        env.t_ref = env.link.now()
        if step.action == "read":  # it reads, but what its application got is not observed: no pass
            raise StepSkipped(f"implied: {target.name} reads by itself; what its application got is not observed")
        sres.message = f"implied: {target.name} does this by itself"
        return
    match step.action:
        case "read":
            yield from _app_read(env, step.count or 0)
        case "write":
            data = stream_bytes(env.conn.app_written, step.count or 0, TARGET_SALT)
            try:
                if step.urgent:
                    target.app_write(key, data, urgent=True)
                else:
                    target.app_write(key, data)
            except OptionUnsupported as err:  # no urgent data there: nothing the case asserts can show
                raise CaseUnobservable(f"{target.name} cannot send urgent data: {err}") from None
            env.conn.app_written += len(data)
        case "listen":
            try:
                target.app_listen(key)
            except AppFailed as err:
                if env.conn.target_isn is not None:  # listening again on a port with a connection on it
                    raise CaseUnobservable(f"the application's second listen on port {key.dport} was refused ({err}): "
                                           "RFC 9293 3.9.1.1 lets a passive OPEN return an error, so whether one "
                                           "disturbs the connection there cannot be seen") from None
                # the port is taken (another run, another program): not the TCP's doing
                raise CaseError(f"the application could not listen ({err}): is another run or program using "
                                f"port {key.dport} of the target?") from None
        case "unlisten":
            target.app_unlisten(key)
        case "connect":
            try:
                bind: Literal["address", "port"] = "port" if env.case.address == "unbound" else "address"
                if env.case.route:
                    target.app_connect(key, bind, app_route(env.case.route, key))
                else:
                    target.app_connect(key, bind)
            except OptionUnsupported as err:  # it cannot leave the address to IP (MUST-44), or set a route (MUST-51)
                raise CaseUnobservable(str(err)) from None
            except AppFailed as err:
                if env.case.peer is not None:  # a group address: refusing is what the case asks (MUST-46)
                    sres.message = f"refused: {err}"
                    env.t_ref = env.link.now()
                    return
                # its port is taken, or the address is not its own: not the TCP's doing
                raise CaseError(f"the application could not connect ({err}): is another run or program using "
                                f"port {key.dport} of the target?") from None
        case "shutdown":
            target.app_shutdown(key)
        case "close":
            target.app_close(key)
        case "setsockopt":
            _setsockopt(env, step)
        case "getsockopt":
            _getsockopt(env, step, sres)
        case "read-eof" | "read-reset":
            yield from _read_end(env, "eof" if step.action == "read-eof" else "reset")
        case _:
            assert_never(step.action)
    env.t_ref = env.link.now()


def _setsockopt(env: StepEnv, step: AppStep) -> None:
    """On the case's connection once the target has answered its SYN, else on the listening socket
    (so the connection the case opens inherits it).  A target without the option cannot show what
    the case asserts of it: the case is skipped with the reason."""
    option = step.sockopt
    if option is None:
        raise CaseError("a setsockopt step without its option")
    where = env.key if env.conn.target_isn is not None else env.key.dport
    try:
        env.target.app_setsockopt(where, option.name, option.value)
    except OptionUnsupported as err:
        raise CaseUnobservable(f"{env.target.name} cannot set {option.name} {option.value}: {err}") from None


_ENDS = {"eof": "end of file", "reset": "a failure: connection reset", "open": "neither the end of the stream nor a reset"}


def _read_end(env: StepEnv, want: ReadEnd) -> Waiting[None]:
    """Read, polling until the profile's bound, until the application is told how the stream ended:
    it must be ``want`` (RFC 9293 3.6, MUST-12).  A target that cannot tell skips the case."""
    link = env.link
    deadline = timing.latest(link.now(), env.settings.profile.within)
    while True:
        try:
            got = env.target.app_read_end(env.key)
        except OptionUnsupported as err:
            raise CaseUnobservable(f"{env.target.name} cannot show how its application learns the stream's end: "
                                   f"{err}") from None
        if got != "open" or link.now() >= deadline:
            break
        yield from env.sleep(min(deadline, link.now() + POLL))
    if got != want:
        raise StepFailed(f"the application was told {_ENDS[got]}, where the peer ended the stream with "
                         f"{'a FIN' if want == 'eof' else 'a RST'}", [Mismatch("app read", _ENDS[want], _ENDS[got])])


def _getsockopt(env: StepEnv, step: AppStep, sres: StepResult) -> None:
    """Read the option where a setsockopt would set it: it must be at least the case's value (a
    default the RFC bounds below, MUST-28's two hours of keep-alive idle).  A target that cannot read
    it cannot show it: the case is skipped with the reason."""
    option = step.sockopt
    if option is None:
        raise CaseError("a getsockopt step without its option")
    where = env.key if env.conn.target_isn is not None else env.key.dport
    try:
        value = env.target.app_getsockopt(where, option.name)
    except OptionUnsupported as err:
        raise CaseUnobservable(f"{env.target.name} cannot read {option.name}: {err}") from None
    sres.message = f"{option.name} reads {value}"
    if value < option.value:
        raise StepFailed(f"the application reads {option.name} {value}, below {option.value}",
                         [Mismatch(option.name, f">= {option.value}", str(value))])


def _drive_echo(env: StepEnv, count: int, sres: StepResult) -> Waiting[None]:
    """Play an ``app write`` on an echo: send it the bytes it is to write (:func:`services.for_echo`).

    First the echo of what the tester sent before comes back (up to the profile's bound), so the
    bytes go out acknowledging it: a target that holds a small write while data of its own is
    unacknowledged (Nagle, RFC 9293 3.7.4) would otherwise hold the echo the case waits for.
    """
    conn, link = env.conn, env.link
    deadline = timing.latest(link.now(), env.settings.profile.within)
    while services.echo_owed(conn):
        got = yield from env.next(deadline)
        if got is None:
            break
        if services.own(env.target, conn, got.segment) is None:
            env.unread([got])  # not the echo's: the next step judges it
            break
        idx = env.record("in", got.segment, got.at, sres.index, note="tolerated: " + services.DATA, frame=got.frame)
        sres.observed.append(idx)
        services.take(conn, got.segment)
    env.t_ref = env.t_sent = transmit(env, services.for_echo(conn, env.key, count), sres.index, "for the echo to write")
    services.driven(conn, count)
    sres.message = f"implied: {count} bytes sent for {env.target.name} to write back"


def _app_read(env: StepEnv, want: int) -> Waiting[None]:
    """Read ``want`` bytes, polling until the profile's bound; they must be the bytes the tester sent."""
    conn, link = env.conn, env.link
    got = b""
    deadline = timing.latest(link.now(), env.settings.profile.within)
    while True:
        got += env.target.app_read(env.key, want - len(got))
        if len(got) >= want or link.now() >= deadline:
            break
        yield from env.sleep(min(deadline, link.now() + POLL))
    expected = stream_bytes(conn.app_read, want, TESTER_SALT)
    conn.app_read += len(got)
    if got != expected:
        if len(got) < want:
            detail = f"{len(got)} bytes" + ("" if got == expected[: len(got)] else ", and not the bytes sent")
            raise StepFailed(f"the application read {len(got)} of {want} bytes",
                             [Mismatch("app read", f"{want} bytes, in order", detail)])
        raise StepFailed("the application read other bytes than were sent, or out of order",
                         [Mismatch("app read", f"{want} bytes, in order", first_diff(expected, got))])


def state(env: StepEnv, step: StateStep, sres: StepResult) -> Waiting[None]:
    target, link = env.target, env.link
    sres.expected = f"target state {step.state}"
    if Capability.STATE not in target.capabilities:
        yield from probe_state(env, step, sres)  # judged from the wire
        return
    deadline = timing.latest(link.now(), env.settings.profile.within)
    seen: list[str] = []
    while True:
        now_state = target.state(env.key)
        if now_state is None and not seen:  # the target cannot tell (a device agent's best effort): the wire can
            yield from probe_state(env, step, sres)
            return
        if now_state is not None and (not seen or seen[-1] != now_state):
            seen.append(now_state)
        if now_state == step.state:
            break
        if link.now() >= deadline:
            path = " -> ".join(seen) or "unknown"
            if now_state is None:  # what it last reported is not what it is now: no verdict on it
                raise StepSkipped(f"not observed: {target.name} can no longer tell the connection's state "
                                  f"(seen: {path}), so {step.state} is neither shown nor ruled out")
            raise StepFailed(f"target state is {now_state}, expected {step.state} (seen: {path})",
                             [Mismatch("state", step.state, str(now_state))])
        yield from env.sleep(min(deadline, link.now() + POLL))
    env.t_ref = link.now()


# -- wording -------------------------------------------------------------------------------------
def first_diff(expected: bytes, got: bytes) -> str:
    """Where ``got`` first differs from ``expected``, as a failure says it."""
    for i, (a, b) in enumerate(zip(expected, got, strict=False)):
        if a != b:
            return f"byte {i}: expected 0x{a:02x}, got 0x{b:02x}"
    return f"{len(got)} bytes where {len(expected)} were expected"
