"""Choosing, once at start-up, what a run talks to: the target, its control, and the link.

Three kinds of run, one shape: a :class:`Session` with a link, a target and the metadata that says
how they were set up.  Everything a session creates (a lab, an agent process, a firewall rule) is
undone when the ``with`` block ends, however it ends.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tcpconform.engine.run import BASE_PORT, PORT_SPAN
from tcpconform.errors import SetupError
from tcpconform.links.base import Link
from tcpconform.links.host import offload_warnings, route
from tcpconform.results import SessionMeta
from tcpconform.targets.base import Target, TargetError
from tcpconform.targets.device import LISTEN_WAIT, DeviceTarget
from tcpconform.targets.reference import REFERENCE_PORT
from tcpconform.targets.service import ServiceSet, ServiceTarget, parse_service

if TYPE_CHECKING:
    from tcpconform.lab.spec import Lab
    from tcpconform.targets.agent.transport import AgentSpec

PORT_FIRST, PORT_LAST = 20000, 60000
"""The source ports runs rotate through: above the registered range, below Linux's ephemeral ports."""
_last_base: list[int] = []


def fresh_base_port(state_file: Path | None = None) -> int:
    """The next block of PORT_SPAN source ports, taken in turn from PORT_FIRST..PORT_LAST.

    In turn, not at random: a block must not come back while a target may still hold a recent
    run's connections in TIME_WAIT (a minute or more; a SYN on a TIME_WAIT 4-tuple gets an ACK,
    not a SYN-ACK), and 40 runs pass before one does.  The last block is kept in a state file
    shared by every run on the machine, under a lock; without a writable one, within the process.
    """
    import fcntl
    import random

    path = state_file or _state_dir() / "last-base-port"
    slots = (PORT_LAST - PORT_FIRST) // PORT_SPAN

    def following(last: int | None) -> int:
        if last is None or not PORT_FIRST <= last < PORT_LAST:
            return PORT_FIRST + random.randrange(slots) * PORT_SPAN
        return PORT_FIRST + ((last - PORT_FIRST) // PORT_SPAN + 1) % slots * PORT_SPAN

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # two runs starting together take different blocks
            f.seek(0)
            text = f.read().strip()
            base = following(int(text) if text.isdigit() else None)
            f.seek(0)
            f.truncate()
            f.write(f"{base}\n")
    except OSError:
        base = following(_last_base[-1] if _last_base else None)
    _last_base[:] = [base]
    return base


def _state_dir() -> Path:
    import os

    root = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(root) / "tcpconform"


class SessionError(SetupError):
    """The run cannot be set up as asked; the message says why and what to do."""


@dataclass
class Session:
    link: Link
    target: Target
    profile: str
    """The profile that fits this target unless the user names another."""
    meta: SessionMeta
    """How the session was set up, for the run's record."""
    base_port: int = BASE_PORT
    """First source port of the run (``PORT_SPAN`` ports from here are the run's)."""
    probes: bool = True
    """Whether the target's liveness can be probed (a SYN to its port): not a device that only
    connects out (``--listen`` without ``--port``)."""


@dataclass(frozen=True)
class Listen:
    """``--listen [IP:]PORT`` and ``--listen-wait``: the tester waits there for the device's SYNs."""

    ip: str | None
    port: int
    wait: float = LISTEN_WAIT


def parse_listen(text: str, wait: float = LISTEN_WAIT) -> Listen:
    """``PORT``, ``IP:PORT`` or ``[IPv6]:PORT`` -> :class:`Listen`; :class:`SessionError` says what is wrong."""
    host, sep, number = text.rpartition(":")
    host = host.strip("[]") if sep else ""
    try:
        port = int(number)
        if host:
            ipaddress.ip_address(host)
    except ValueError:
        raise SessionError(f"--listen {text}: expected PORT, IP:PORT or [IPv6]:PORT") from None
    if not 1 <= port <= 65535:
        raise SessionError(f"--listen {text}: port {port} is not in 1..65535")
    return Listen(str(ipaddress.ip_address(host)) if host else None, port, wait)


def open_session(*, lab: str | None = None, lab_name: str = "0", target: str | None = None,
                 port: int | None = None, iface: str | None = None, source_ip: str | None = None,
                 services: Sequence[str] = (), faults: Sequence[str] = (), ipv6: bool = False,
                 agent: str | None = None, listen: Listen | None = None, target_alt: str | None = None) -> Any:
    """The one place a run's target is chosen; returns a context manager yielding a :class:`Session`.

    ``ipv6`` runs in-process and in the lab over IPv6; a ``target``'s family is its address's.
    ``agent`` (``--agent``, with ``target`` only) reaches the target's agent: ``cmd:``, ``udp:`` or ``serial:``.
    ``listen`` waits for the SYNs of a device that connects by itself (:mod:`tcpconform.targets.device`).
    ``target_alt`` (``--target-alt``, with ``target`` only) is the target's second address on the link.
    """
    if listen is not None:
        if target_alt is not None:
            raise SessionError("--target-alt goes without --listen (a device that connects by itself chooses its own "
                               "address)")
        return _listen_session(listen, lab=lab, lab_name=lab_name, target=target, port=port, iface=iface,
                               source_ip=source_ip, services=services, faults=faults, ipv6=ipv6, agent=agent)
    if lab and target:
        raise SessionError("--lab and --target exclude each other")
    if target_alt is not None and not target:
        raise SessionError("--target-alt goes with --target (in-process and in the lab the target's second address is known)")
    alt = _alt_address(target_alt, target) if target else None
    if agent is not None and not target:
        raise SessionError("--agent goes with --target (the lab and the bundled responder bring their own agents)")
    if target:
        if faults:
            raise SessionError("--fault switches on faults of the bundled responder; it has no effect on --target")
        if ipv6 and _version(target, "--target") != 6:
            raise SessionError(f"--ipv6 with an IPv4 --target {target}: give the target's IPv6 address")
        if agent is not None:
            return remote_session(target, [], iface=iface, source_ip=source_ip, agent=_agent_spec(agent, target, services, port),
                                  target_alt=alt)
        return remote_session(target, _services(services, port), iface=iface, source_ip=source_ip, target_alt=alt)
    if iface or source_ip:
        raise SessionError("--iface and --source-ip go with --target")
    if services and lab:
        raise SessionError("--service goes with --target, or alone (the bundled responder serving them in this process)")
    if services:
        return in_process_services(_services(services, port), ipv6=ipv6, faults=faults)
    if lab:
        return lab_session(lab, lab_name=lab_name, port=port or REFERENCE_PORT, faults=faults, ipv6=ipv6)
    return in_process(faults, ipv6=ipv6)


def _alt_address(alt: str | None, target: str) -> str | None:
    """``--target-alt`` checked against ``--target``: an address of its family, not the same one."""
    if alt is None:
        return None
    if _version(alt, "--target-alt") != _version(target, "--target"):
        raise SessionError(f"--target-alt {alt} and --target {target} are not of one address family")
    alt = str(ipaddress.ip_address(alt))
    if alt == str(ipaddress.ip_address(target)):
        raise SessionError(f"--target-alt {alt} is the --target itself: give the device's second address")
    return alt


def _version(address: str, what: str) -> int:
    try:
        return ipaddress.ip_address(address).version
    except ValueError:
        raise SessionError(f"{what} {address!r} is not an IPv4 or IPv6 address") from None


@contextmanager
def in_process(faults: Sequence[str], *, ipv6: bool = False) -> Iterator[Session]:
    from tcpconform.targets.reference import open_reference

    ref = open_reference(faults, ipv6=ipv6)
    yield Session(ref.link, ref.target, "reference", SessionMeta("in-process"))


@contextmanager
def in_process_services(services: Sequence[tuple[str, int]], *, ipv6: bool = False,
                        faults: Sequence[str] = ()) -> Iterator[Session]:
    """The bundled responder in this process serving the classic services (echo, discard, chargen,
    daytime), seen as a remote target is: no agent, only what each service does by itself."""
    from tcpconform.targets.reference import open_reference

    ref = open_reference(faults, ipv6=ipv6, services=services)
    yield Session(ref.link, _service_target(ref.target.ip, services, ref.target.alt_ip), "generic",
                  SessionMeta("in-process (services)"))


def _listen_session(listen: Listen, *, lab: str | None, lab_name: str, target: str | None, port: int | None,
                    iface: str | None, source_ip: str | None, services: Sequence[str], faults: Sequence[str],
                    ipv6: bool, agent: str | None) -> Any:
    """``--listen``: the device connects to the tester by itself; its service, when named, serves the rest."""
    if agent is not None:
        raise SessionError("--listen is for a device that connects by itself; with --agent its application "
                           "connects when a case says (app: connect): leave --listen out")
    if lab and target:
        raise SessionError("--lab and --target exclude each other")
    if listen.ip is not None and source_ip is not None and listen.ip != source_ip:
        raise SessionError(f"--listen {listen.ip} and --source-ip {source_ip}: the tester listens on its own address; "
                           "give one of them")
    if target:
        if faults:
            raise SessionError("--fault switches on faults of the bundled responder; it has no effect on --target")
        chosen = _services(services, port) if services or port is not None else []
        return remote_session(target, chosen, iface=iface, source_ip=source_ip or listen.ip, listen=listen)
    if iface or source_ip or listen.ip:
        raise SessionError("--iface, --source-ip and --listen IP: go with --target")
    if services:
        raise SessionError("--service goes with --target (in-process --listen serves the server cases with --port)")
    if lab:
        return lab_session(lab, lab_name=lab_name, port=port or REFERENCE_PORT, faults=faults, ipv6=ipv6, listen=listen)
    return in_process_device(faults, listen, port=port, ipv6=ipv6)


@contextmanager
def in_process_device(faults: Sequence[str], listen: Listen, *, port: int | None = None,
                      ipv6: bool = False) -> Iterator[Session]:
    """The bundled responder in this process as a device that keeps connecting to the tester's
    ``listen`` port by itself; with ``port``, it also serves the server-side cases there."""
    from tcpconform.links.inprocess import InProcessLink, VirtualClock
    from tcpconform.links.listen import ListenLink
    from tcpconform.responder import AppConfig, Responder, ResponderConfig
    from tcpconform.targets.device import DevicePeer
    from tcpconform.targets.reference import REFERENCE_IP, REFERENCE_IP6, TESTER_IP, TESTER_IP6, ReferenceTarget

    clock = VirtualClock()
    tester, device = (TESTER_IP6, REFERENCE_IP6) if ipv6 else (TESTER_IP, REFERENCE_IP)
    responder = Responder(ResponderConfig(ip=device, port=port or REFERENCE_PORT, app=AppConfig(mode="agent"),
                                          faults=frozenset(faults)))
    inner = InProcessLink(DevicePeer(responder, (tester, listen.port)), clock, local_ip=tester)
    link = ListenLink(inner, tester, listen.port, device)
    serves = ReferenceTarget(responder, clock) if port is not None else None
    target = DeviceTarget(link, device, listen.wait, serves, name=f"reference responder (in-process) as a device "
                                                                  f"connecting to {link.where} by itself")
    yield Session(link, target, "reference", SessionMeta("in-process (device connecting by itself)"),
                  probes=serves is not None)


@contextmanager
def lab_session(kind: str, *, lab_name: str = "0", port: int = REFERENCE_PORT,
                faults: Sequence[str] = (), ipv6: bool = False, listen: Listen | None = None) -> Iterator[Session]:
    """The lab: tester and target namespaces; the target is Linux's TCP or the responder on the wire,
    over IPv4 or (``ipv6``) over the lab's unique-local IPv6 prefix."""
    from tcpconform.lab.lab import clear_for_a_run, find_lab, forget_paths, lab_in_use, temporary_lab
    from tcpconform.lab.netns import ns_argv
    from tcpconform.links.rawsock import RawEndpoint, RawSocketLink
    from tcpconform.targets.agent.client import AgentTarget
    from tcpconform.targets.agent.standing import open_standing

    if kind not in ("linux", "reference"):
        raise SessionError(f"unknown lab target {kind!r} (linux or reference)")
    if listen is not None and kind != "linux":
        raise SessionError("--listen in the lab goes with --lab linux (a loop of connects in the target's namespace)")
    if faults and kind != "reference":
        raise SessionError("faults belong to the reference responder: use --lab reference")
    with ExitStack() as stack:
        stack.enter_context(lab_in_use(str(lab_name)))
        note = clear_for_a_run(lab_name)
        lab = find_lab(lab_name)
        created = lab is None
        if lab is None:  # made for this run, and removed however the run ends (SIGTERM included)
            lab = stack.enter_context(temporary_lab(lab_name))
        forget_paths(lab)
        tester_ip, linux_ip, reference_ip = lab.addresses(ipv6)
        alt: str | None = None
        if kind == "linux":
            ip = linux_ip
            alt = _lab_alt(lab, ipv6)
            argv = ns_argv(lab.target_ns, [sys.executable, "-m", "tcpconform.targets.agent.linux"])
            name = "Linux kernel TCP (lab)"
        else:
            ip = reference_ip
            alt = lab.reference_alt_ip6 if ipv6 else lab.reference_alt_ip
            argv = ns_argv(lab.target_ns, [
                sys.executable, "-m", "tcpconform.cli", "responder", "--iface", lab.target_if,
                "--ip", ip, "--alt-ip", alt, "--port", str(port), "--agent-stdio",
                *[arg for f in faults for arg in ("--fault", f)],
            ])
            name = "reference responder (lab, on the wire)" + (f" with fault(s) {', '.join(faults)}" if faults else "")
        # Linux: the agent ``lab up`` left standing in the target's namespace, when there is one and
        # it answers (one from another version of tcpconform may not); else one of the run's own.
        standing = open_standing(lab) if kind == "linux" else None
        target: Target | None = None
        if standing is not None:
            try:
                target = stack.enter_context(AgentTarget(standing, name=name, ip=ip, port=port, alt_ip=alt))
            except TargetError as err:
                note = "; ".join(filter(None, (note, f"the lab's standing agent did not serve ({err}): the run started its own")))
        if target is None:
            target = stack.enter_context(AgentTarget(argv, name=name, ip=ip, port=port, alt_ip=alt))
        endpoint = RawEndpoint(lab.tester_if, tester_ip, netns=lab.tester_ns, peer_ip=ip, peer_alt=alt)
        stack.callback(endpoint.close)
        link: Link = RawSocketLink(endpoint, ip, alt)
        if listen is not None:
            link, target = _lab_device(stack, lab.target_ns, link, target, tester_ip, listen)
        yield Session(link, target, "generic" if kind == "linux" else "reference", base_port=fresh_base_port(), meta=SessionMeta(
            mode=f"lab ({kind})" + (" connecting to the tester by itself" if listen else ""),
            lab=lab.name,
            lab_created_for_run=created,
            interface=f"{lab.tester_if} in {lab.tester_ns}",
            warnings=(note,) if note else None,
            tester_address=tester_ip,
            rst_suppression="not needed: the tester's address is not the kernel's (the tester answers "
                            + ("Neighbor Solicitations)" if ipv6 else "ARP)"),
        ))


def _lab_device(stack: ExitStack, ns: str, link: Link, agent: Target, tester_ip: str,
                listen: Listen) -> tuple[Link, Target]:
    """Linux in the lab as a device that connects by itself: a loop of connects in its namespace
    (:mod:`tcpconform.targets.connectloop`), stopped with the session; the agent serves the rest."""
    import subprocess

    from tcpconform.lab.netns import ns_argv
    from tcpconform.links.listen import ListenLink

    argv = ns_argv(ns, [sys.executable, "-m", "tcpconform.targets.connectloop", tester_ip, str(listen.port)])
    loop = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop() -> None:
        loop.terminate()
        try:
            loop.wait(5)
        except subprocess.TimeoutExpired:
            loop.kill()
            loop.wait()

    stack.callback(stop)
    listening = ListenLink(link, tester_ip, listen.port, agent.ip)
    return listening, DeviceTarget(listening, agent.ip, listen.wait, agent,
                                   name=f"Linux kernel TCP (lab) connecting to {listening.where} in a loop")


def _lab_alt(lab: Lab, ipv6: bool) -> str | None:
    """The Linux target's second address, if the lab holds it (a lab made before it had one does not:
    its cases about a multihomed target are then skipped, not failed).

    Asked of the target's kernel by binding a socket to it inside its namespace (only an address an
    interface holds can be bound there): two system calls, where rtnetlink meant importing pyroute2,
    a third of a second of every run's start.
    """
    import socket

    from tcpconform.lab.netns import in_netns

    alt = lab.linux_addresses(ipv6)[1]
    with in_netns(lab.target_ns):
        probe = socket.socket(socket.AF_INET6 if ipv6 else socket.AF_INET, socket.SOCK_DGRAM)
    with probe:
        try:
            probe.bind((alt, 0))
        except OSError:
            return None
    return alt


def _agent_spec(text: str, target: str, services: Sequence[str], port: int | None) -> tuple[AgentSpec, int]:
    """``--agent`` checked against the rest of the choice: the spec and the target's port."""
    from tcpconform.targets.agent.transport import check_off_the_link, parse_agent_spec

    if services:
        raise SessionError("--agent plays the target's application: --service describes one that runs without an agent")
    if port is None:
        raise SessionError("--agent needs --port: the TCP port the agent's application listens on")
    _version(target, "--target")
    try:
        spec = parse_agent_spec(text)
        check_off_the_link(spec, target)
    except ValueError as err:
        raise SessionError(str(err)) from None
    return spec, port


def _open_agent(stack: ExitStack, spec: AgentSpec, target_ip: str, port: int, alt: str | None = None) -> Target:
    """The device's agent, open (and closed with ``stack``): its hello has said what it can do."""
    from tcpconform.targets.agent.client import AgentTarget, agent_env
    from tcpconform.targets.agent.transport import open_transport

    try:
        transport = open_transport(spec, agent_env())
    except (OSError, ValueError) as err:
        raise SessionError(f"--agent {spec.text}: cannot reach the agent: {getattr(err, 'strerror', None) or err}") from None
    target = stack.enter_context(AgentTarget(transport, f"{target_ip} (agent {spec.text})", target_ip, port, alt_ip=alt))
    target.name = f"{target_ip} ({target.info.get('agent') or 'an'} agent, {transport.who})"
    return target


@contextmanager
def remote_session(target_ip: str, services: Sequence[tuple[str, int]], *, iface: str | None = None,
                   source_ip: str | None = None, agent: tuple[AgentSpec, int] | None = None,
                   listen: Listen | None = None, target_alt: str | None = None) -> Iterator[Session]:
    """A device on a wire: raw frames on ``iface``; the kernel's RSTs suppressed when it owns our address.
    With ``agent`` (its spec and the target's port) the target's application and state are the agent's.
    With ``listen`` the device connects to the tester by itself; ``services`` (maybe none) serve the rest."""
    from tcpconform.lab.firewall import RstSuppression
    from tcpconform.links.rawsock import RawEndpoint, RawSocketLink

    version = _version(target_ip, "--target")
    target_ip = str(ipaddress.ip_address(target_ip))
    if source_ip is not None:
        if _version(source_ip, "--source-ip") != version:
            raise SessionError(f"--source-ip {source_ip} and --target {target_ip} are not of one address family")
        source_ip = str(ipaddress.ip_address(source_ip))
    iface, owned = route(target_ip, iface)
    if source_ip is None:
        if not owned:
            raise SessionError(f"{iface} has no IPv{version} address: give --source-ip (a free address on that link)")
        source_ip = owned[0]
    host_mode = source_ip in owned
    warnings = offload_warnings(iface)
    base_port, ports = fresh_base_port(), PORT_SPAN
    with ExitStack() as stack:
        target: Target | None = (_open_agent(stack, agent[0], target_ip, agent[1], target_alt) if agent
                                 else _service_target(target_ip, services, target_alt) if services else None)
        if host_mode and target is not None:
            for address in (target_ip, target_alt) if target_alt else (target_ip,):
                stack.enter_context(RstSuppression(address, [target.port] if agent else [p for _, p in services],
                                                   range(base_port, base_port + ports)))
        if host_mode and listen is not None:  # the kernel must not refuse the device's SYNs to the tester's port
            stack.enter_context(RstSuppression(target_ip, range(1, 65536), [listen.port]))
        endpoint = RawEndpoint(iface, source_ip, answer_arp=not host_mode, peer_ip=target_ip, peer_alt=target_alt)
        stack.callback(endpoint.close)
        link: Link = RawSocketLink(endpoint, target_ip, target_alt)
        if listen is not None:
            from tcpconform.links.listen import ListenLink

            link = ListenLink(link, source_ip, listen.port, target_ip)
            target = DeviceTarget(link, target_ip, listen.wait, target)
        assert target is not None
        yield Session(link, target, "generic", base_port=base_port, probes=not isinstance(target, DeviceTarget)
                      or target.serves is not None, meta=SessionMeta(
            mode="remote target" + (" with agent" if agent else "") + (" connecting to the tester by itself" if listen else ""),
            interface=iface,
            tester_address=source_ip,
            rst_suppression=(
                f"nftables rule for source ports {base_port}-{base_port + ports - 1} (host mode: "
                f"{source_ip} is the kernel's address on {iface})" if host_mode
                else "not needed: the tester's address is not the kernel's (the tester answers "
                + ("Neighbor Solicitations)" if version == 6 else "ARP)")
            ),
            warnings=tuple(warnings),
        ))


def _services(texts: Sequence[str], port: int | None) -> list[tuple[str, int]]:
    """``--service`` values as (name, port): none is echo on ``--port``; a bare name takes ``--port``."""
    if not texts:
        if port is None:
            raise SessionError("--target needs --port (the service's TCP port), or --service NAME=PORT")
        return [("echo", port)]
    out = []
    for text in texts:
        try:
            out.append(parse_service(text, port))
        except ValueError as err:
            raise SessionError(str(err)) from None
    ports = [p for _, p in out]
    twice = sorted({p for p in ports if ports.count(p) > 1})
    if twice:
        raise SessionError(f"--service: two services on port {twice[0]}; give each its own (NAME=PORT)")
    return out


def _service_target(ip: str, services: Sequence[tuple[str, int]], alt: str | None = None) -> ServiceTarget | ServiceSet:
    targets = tuple(ServiceTarget(name, ip, port, alt_ip=alt) for name, port in services)
    return targets[0] if len(targets) == 1 else ServiceSet(targets, alt_ip=alt)
