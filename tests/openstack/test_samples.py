"""Nova's, Neutron's and Glance's answers as samples, on answers recorded from a real cloud
(tests/openstack/record.py: a throwaway Nova with the fake driver, see docs/openstack.md)."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from exporter import families as fam
from exporter.collectors.openstack_samples import (
    Answers,
    OpenStackDataError,
    collection_samples,
    images_to_check,
)
from exporter.metrics import Family, SampleSet, render
from harness import exposition
from tests.openstack.conftest import STATES, recorded

T = "os"
HOST = "compute1"


def vm(
    samples: SampleSet, family: Family, name: str, host: str = HOST, **labels: str
) -> float | None:
    return samples.value(family, target=T, host=host, vm=name, **labels)


def power(samples: SampleSet, name: str, host: str = HOST) -> str:
    """The one power state that is 1."""
    states = [
        state
        for state in fam.POWER_STATES
        if vm(samples, fam.VM_POWER_STATE.family, name, host, state=state) == 1
    ]
    assert len(states) == 1, (name, states)
    return states[0]


def connection(samples: SampleSet, host: str = HOST) -> str:
    states = [
        state
        for state in fam.CONNECTION_STATES
        if samples.value(fam.HOST_CONNECTION_STATE.family, target=T, host=host, state=state) == 1
    ]
    assert len(states) == 1
    return states[0]


def test_steady_cloud() -> None:
    samples = collection_samples(T, recorded("steady"))
    for name in ("web-1", "web-2"):
        assert power(samples, name) == "running"
        assert vm(samples, fam.VM_AUTOSTART_ENABLED, name) == 1
        assert vm(samples, fam.OPENSTACK_SERVER_VM_STATE, name, state="active") == 1
    # Stopped through the API: Nova no longer expects it to run.
    assert power(samples, "db") == "stopped"
    assert vm(samples, fam.VM_AUTOSTART_ENABLED, "db") == 0
    assert vm(samples, fam.OPENSTACK_SERVER_VM_STATE, "db", state="stopped") == 1
    assert vm(samples, fam.OPENSTACK_SERVER_IMAGE_ACTIVE, "db", image="cirros") == 1
    # Never placed: no host, no power state, vm_state error.
    assert power(samples, "never", host="") == "unknown"
    assert vm(samples, fam.VM_AUTOSTART_ENABLED, "never", host="") == 0
    assert vm(samples, fam.OPENSTACK_SERVER_VM_STATE, "never", host="", state="error") == 1
    # Images of stopped instances: deactivated, and deleted (named by id).
    assert vm(samples, fam.OPENSTACK_SERVER_IMAGE_ACTIVE, "retired", image="retired-image") == 0
    orphan = next(s for s in recorded("steady").servers if s["name"] == "orphan")
    gone = orphan["image"]["id"]
    assert vm(samples, fam.OPENSTACK_SERVER_IMAGE_ACTIVE, "orphan", image=gone) == 0
    # Running instances' images are not asked for.
    assert fam.OPENSTACK_SERVER_IMAGE_ACTIVE.labels and not any(
        key[2].startswith("web") for key in samples.series[fam.OPENSTACK_SERVER_IMAGE_ACTIVE]
    )
    # The instance's identity.
    web = next(s for s in recorded("steady").servers if s["name"] == "web-1")
    assert (
        vm(
            samples,
            fam.VM_INFO,
            "web-1",
            platform="openstack",
            uuid=web["id"],
            cluster="nova",
            datacenter="",
        )
        == 1
    )
    # The compute host and its Neutron agent.
    assert connection(samples) == "connected"
    assert samples.value(fam.HOST_MAINTENANCE_MODE, target=T, host=HOST) == 0
    assert samples.value(fam.OPENSTACK_COMPUTE_SERVICE_UP, target=T, host=HOST) == 1
    assert samples.value(fam.OPENSTACK_COMPUTE_SERVICE_FORCED_DOWN, target=T, host=HOST) == 0
    agent = {"target": T, "host": HOST, "agent_type": "Linux bridge agent"}
    assert samples.value(fam.OPENSTACK_AGENT_UP, **agent) == 1
    assert samples.value(fam.OPENSTACK_AGENT_ADMIN_STATE_UP, **agent) == 1
    (info,) = samples.series[fam.HOST_INFO]
    assert info[:4] == (T, HOST, "openstack", "nova")
    assert samples.value(fam.HOST_MEMORY_TOTAL, target=T, host=HOST) == 800000 * 2**20
    assert samples.value(fam.HOST_CPUS, target=T, host=HOST) == 1000
    vms = {"running": 2, "stopped": 3, "paused": 0, "suspended": 0, "crashed": 0, "unknown": 0}
    for state, count in vms.items():
        assert samples.value(fam.HOST_VMS, target=T, host=HOST, state=state) == count
    # Flavor sizes (tiny: 1 vCPU, 64 MiB), also for an instance never placed.
    assert vm(samples, fam.VM_VCPUS, "web-1") == 1
    assert vm(samples, fam.VM_MEMORY, "never", host="") == 64 * 2**20
    assert samples.duplicates == 0


def test_host_boot_leaves_active_instances_not_running() -> None:
    """nova-compute restarted without resuming guests: the fake hypervisor forgot its
    instances, Nova's power sync recorded NOSTATE, and vm_state is still active."""
    samples = collection_samples(T, recorded("host-boot"))
    for name in ("web-1", "web-2"):
        assert power(samples, name) == "unknown"
        assert vm(samples, fam.VM_AUTOSTART_ENABLED, name) == 1
        assert vm(samples, fam.OPENSTACK_SERVER_VM_STATE, name, state="active") == 1
        # Not running now, so their image is checked too (it is active).
        assert vm(samples, fam.OPENSTACK_SERVER_IMAGE_ACTIVE, name, image="cirros") == 1
    assert connection(samples) == "connected"


def test_compute_service_down() -> None:
    samples = collection_samples(T, recorded("compute-down"))
    assert connection(samples) == "not_responding"
    assert samples.value(fam.OPENSTACK_COMPUTE_SERVICE_UP, target=T, host=HOST) == 0


def test_forced_down_and_disabled_compute_service() -> None:
    answers = recorded("steady")
    services = [copy.deepcopy(dict(s)) for s in answers.services]
    for service in services:
        service.update(forced_down=True, state="down", status="disabled")
    samples = collection_samples(T, dataclasses.replace(answers, services=services))
    assert connection(samples) == "disconnected"
    assert samples.value(fam.HOST_MAINTENANCE_MODE, target=T, host=HOST) == 1
    assert samples.value(fam.OPENSTACK_COMPUTE_SERVICE_FORCED_DOWN, target=T, host=HOST) == 1


def test_agent_down() -> None:
    samples = collection_samples(T, recorded("agent-down"))
    agent = {"target": T, "host": HOST, "agent_type": "Linux bridge agent"}
    assert samples.value(fam.OPENSTACK_AGENT_UP, **agent) == 0
    assert samples.value(fam.OPENSTACK_AGENT_ADMIN_STATE_UP, **agent) == 1


def test_no_network_service_means_no_agent_series() -> None:
    samples = collection_samples(T, dataclasses.replace(recorded("steady"), agents=None))
    assert fam.OPENSTACK_AGENT_UP not in samples.series


def test_instances_sharing_a_name_on_one_host_stay_apart() -> None:
    answers = recorded("steady")
    servers = [copy.deepcopy(dict(s)) for s in answers.servers]
    (web1,) = (s for s in servers if s["name"] == "web-1")
    (web2,) = (s for s in servers if s["name"] == "web-2")
    web2["name"] = "web-1"
    samples = collection_samples(T, dataclasses.replace(answers, servers=servers))
    assert vm(samples, fam.VM_AUTOSTART_ENABLED, f"web-1 [{web1['id']}]") == 1
    assert vm(samples, fam.VM_AUTOSTART_ENABLED, f"web-1 [{web2['id']}]") == 1
    assert samples.duplicates == 0


def test_task_state_only_while_set() -> None:
    answers = recorded("steady")
    servers = [copy.deepcopy(dict(s)) for s in answers.servers]
    (db,) = (s for s in servers if s["name"] == "db")
    db["OS-EXT-STS:task_state"] = "powering-on"
    samples = collection_samples(T, dataclasses.replace(answers, servers=servers))
    assert vm(samples, fam.OPENSTACK_SERVER_TASK_STATE, "db", state="powering-on") == 1
    assert len(samples.series[fam.OPENSTACK_SERVER_TASK_STATE]) == 1


def test_only_images_of_instances_not_running_are_asked_for() -> None:
    answers = recorded("steady")
    wanted = images_to_check(answers.servers)
    not_running = {s["image"]["id"] for s in answers.servers if s["OS-EXT-STS:power_state"] != 1}
    assert set(wanted) == not_running and len(wanted) == 3  # cirros, retired, gone


def test_a_server_without_its_power_state_is_refused() -> None:
    answers = recorded("steady")
    servers = [copy.deepcopy(dict(s)) for s in answers.servers]
    del servers[0]["OS-EXT-STS:power_state"]
    with pytest.raises(OpenStackDataError, match="power_state"):
        collection_samples(T, dataclasses.replace(answers, servers=servers))


@pytest.mark.parametrize("state", STATES)
def test_exposition_parses_with_prometheus(state: str) -> None:
    """Every recorded state renders to an exposition promtool accepts."""
    text = render([collection_samples(T, recorded(state))])
    assert exposition.promtool_lint(text) == ""
    assert exposition.parse(text)


def test_empty_cloud() -> None:
    samples = collection_samples(T, Answers(servers=[], services=[], hypervisors=[]))
    assert len(samples) == 0
