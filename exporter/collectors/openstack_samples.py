"""OpenStack: Nova's, Neutron's and Glance's answers turned into samples (pure functions).

The input is what the APIs answer, decoded JSON as they send it: servers of all projects
(`GET /servers/detail`), compute services (`GET /os-services`), hypervisors
(`GET /os-hypervisors/detail`), Neutron agents (`GET /v2.0/agents`, where a network
service is in the catalog) and Glance images of instances that are not running. The tests
drive these functions with answers recorded from a real Nova (tests/openstack/data).

On an OpenStack compute node Nova, not libvirt, decides which instances run: its
`vm_state` is what the instance should be (`active`: running), its `power_state` what the
hypervisor last reported. An instance whose `vm_state` is active while its power state is
not running did not come back, so `hypervisor_vm_autostart_enabled` is 1 exactly where
`vm_state` is active, and the autostart alert covers OpenStack unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from exporter import families as fam
from exporter.derive import unique_vm_labels
from exporter.metrics import SampleSet

PLATFORM = "openstack"

# Nova's power_state codes (nova/compute/power_state.py) as the contract's states. NOSTATE
# (0) is what Nova records when the hypervisor does not know the instance at all (after a
# host boot that lost it, or while it is being built).
POWER_STATES = {0: "unknown", 1: "running", 3: "paused", 4: "stopped", 6: "crashed", 7: "suspended"}

# Server fields (admin view; present in every microversion since 2.1).
HOST = "OS-EXT-SRV-ATTR:host"
VM_STATE = "OS-EXT-STS:vm_state"
POWER_STATE = "OS-EXT-STS:power_state"
TASK_STATE = "OS-EXT-STS:task_state"
ZONE = "OS-EXT-AZ:availability_zone"


class OpenStackDataError(ValueError):
    """An API answer without a field the collector needs (an unsupported release)."""


@dataclass(frozen=True)
class Answers:
    """One collection's API answers, each a list of the objects the API returned."""

    servers: Sequence[Mapping[str, Any]]
    services: Sequence[Mapping[str, Any]]
    hypervisors: Sequence[Mapping[str, Any]]
    # None where the catalog has no network service (no Neutron): no agent series at all.
    agents: Sequence[Mapping[str, Any]] | None = None
    # Images asked for (those of instances not running), by id; an id asked for and
    # missing here is an image Glance no longer has.
    images: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    region: str = ""


def _text(obj: Mapping[str, Any], key: str, what: str) -> str:
    if key not in obj:
        raise OpenStackDataError(f"{what} without {key}: {_ident(obj)}")
    value = obj[key]
    return "" if value is None else str(value)


def _ident(obj: Mapping[str, Any]) -> str:
    return str(obj.get("id", obj.get("name", "?")))


def image_id(server: Mapping[str, Any]) -> str:
    """The id of the image a server booted from; "" when it boots from a volume (Nova
    answers "" for image then)."""
    image = server.get("image")
    if isinstance(image, Mapping):
        return str(image.get("id") or "")
    return ""


def power_state(server: Mapping[str, Any]) -> str:
    code = server.get(POWER_STATE)
    if isinstance(code, bool) or not isinstance(code, int):
        raise OpenStackDataError(f"server without {POWER_STATE}: {_ident(server)}")
    return POWER_STATES.get(code, "unknown")


def images_to_check(servers: Iterable[Mapping[str, Any]]) -> list[str]:
    """Ids of the images of instances that are not running, each once, in a fixed order:
    the only images a collection asks Glance about."""
    return sorted({image_id(s) for s in servers if image_id(s) and power_state(s) != "running"})


def collection_samples(target: str, answers: Answers) -> SampleSet:
    """Every sample of one OpenStack target from one collection's answers."""
    out = SampleSet()
    _server_samples(out, target, answers)
    _host_samples(out, target, answers)
    if answers.agents is not None:
        _agent_samples(out, target, answers.agents)
    return out


def _server_samples(out: SampleSet, target: str, answers: Answers) -> None:
    servers = answers.servers
    names = unique_vm_labels(
        (_text(s, HOST, "server"), _text(s, "name", "server"), _text(s, "id", "server"))
        for s in servers
    )
    vms_by_host: dict[str, dict[str, int]] = {}
    for server in servers:
        server_id = str(server["id"])
        host = _text(server, HOST, "server")
        labels = {"target": target, "host": host, "vm": names[server_id]}
        vm_state = _text(server, VM_STATE, "server")
        state = power_state(server)
        out.add(
            fam.VM_INFO,
            1,
            **labels,
            platform=PLATFORM,
            uuid=server_id,
            cluster=str(server.get(ZONE) or ""),
            datacenter=answers.region,
        )
        out.add_state(fam.VM_POWER_STATE, state, **labels)
        out.add(fam.VM_AUTOSTART_ENABLED, 1 if vm_state == "active" else 0, **labels)
        out.add(fam.OPENSTACK_SERVER_VM_STATE, 1, **labels, state=vm_state)
        task_state = server.get(TASK_STATE)
        if task_state:
            out.add(fam.OPENSTACK_SERVER_TASK_STATE, 1, **labels, state=str(task_state))
        flavor = server.get("flavor")
        if isinstance(flavor, Mapping):  # embedded with its sizes from microversion 2.47
            if _count(flavor.get("vcpus")) is not None:
                out.add(fam.VM_VCPUS, flavor["vcpus"], **labels)
            if _count(flavor.get("ram")) is not None:
                out.add(fam.VM_MEMORY, flavor["ram"] * 2**20, **labels)
        if host:
            per_host = vms_by_host.setdefault(host, dict.fromkeys(fam.POWER_STATES, 0))
            per_host[state] += 1
        image = image_id(server)
        if image and state != "running":
            found = answers.images.get(image)
            active = found is not None and found.get("status") == "active"
            name = str(found.get("name") or image) if found is not None else image
            out.add(fam.OPENSTACK_SERVER_IMAGE_ACTIVE, 1 if active else 0, **labels, image=name)
    for host, states in vms_by_host.items():
        for state, count in states.items():
            out.add(fam.HOST_VMS, count, target=target, host=host, state=state)


def _count(value: Any) -> int | None:
    """An integer count from an answer (not a bool), or None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _host_samples(out: SampleSet, target: str, answers: Answers) -> None:
    """One compute host per nova-compute service. Its `state` up/down is Nova's heartbeat
    (the service reported within service_down_time); `forced_down` is an operator or a
    fencing tool declaring the host down; `status` disabled keeps the scheduler away (the
    host's maintenance mode). The hypervisor of the same host adds its version and, where
    the microversion still reports resources (up to 2.87), its memory and CPUs."""
    hypervisors: dict[str, Mapping[str, Any]] = {}
    for hypervisor in answers.hypervisors:
        service = hypervisor.get("service")
        if isinstance(service, Mapping) and service.get("host"):
            hypervisors[str(service["host"])] = hypervisor
    for service in answers.services:
        if service.get("binary") != "nova-compute":
            continue
        host = _text(service, "host", "compute service")
        labels = {"target": target, "host": host}
        up = _text(service, "state", "compute service") == "up"
        forced_down = bool(service.get("forced_down"))
        connection = "disconnected" if forced_down else "connected" if up else "not_responding"
        out.add_state(fam.HOST_CONNECTION_STATE, connection, **labels)
        disabled = _text(service, "status", "compute service") == "disabled"
        out.add(fam.HOST_MAINTENANCE_MODE, 1 if disabled else 0, **labels)
        out.add(fam.OPENSTACK_COMPUTE_SERVICE_UP, 1 if up else 0, **labels)
        out.add(fam.OPENSTACK_COMPUTE_SERVICE_FORCED_DOWN, 1 if forced_down else 0, **labels)
        hypervisor = hypervisors.get(host, {})
        out.add(
            fam.HOST_INFO,
            1,
            **labels,
            platform=PLATFORM,
            cluster=str(service.get("zone") or ""),
            version=hypervisor_version(hypervisor),
        )
        memory_mb = _count(hypervisor.get("memory_mb"))
        if memory_mb is not None:
            out.add(fam.HOST_MEMORY_TOTAL, memory_mb * 2**20, **labels)
        vcpus = _count(hypervisor.get("vcpus"))
        if vcpus is not None:
            out.add(fam.HOST_CPUS, vcpus, **labels)


def hypervisor_version(hypervisor: Mapping[str, Any]) -> str:
    """Nova's integer hypervisor_version (major * 1000000 + minor * 1000 + patch, as the
    libvirt driver reports QEMU's) as a dotted version; "" where absent."""
    raw = hypervisor.get("hypervisor_version")
    if isinstance(raw, bool) or not isinstance(raw, int):
        return ""
    return f"{raw // 1_000_000}.{raw // 1000 % 1000}.{raw % 1000}"


def _agent_samples(out: SampleSet, target: str, agents: Sequence[Mapping[str, Any]]) -> None:
    for agent in agents:
        labels = {
            "target": target,
            "host": _text(agent, "host", "Neutron agent"),
            "agent_type": _text(agent, "agent_type", "Neutron agent"),
        }
        out.add(fam.OPENSTACK_AGENT_UP, 1 if agent.get("alive") else 0, **labels)
        out.add(
            fam.OPENSTACK_AGENT_ADMIN_STATE_UP, 1 if agent.get("admin_state_up") else 0, **labels
        )
