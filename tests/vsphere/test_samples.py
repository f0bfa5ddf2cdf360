"""The pure translation from recorded vSphere data to samples (tests/vsphere/data/lab.json,
recorded from the simulator by tests/vsphere/record.py after the scenarios there)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter import families as fam
from exporter.collectors.vsphere.samples import (
    EntityPerf,
    KeptCapacity,
    Snapshot,
    perf_targets,
    snapshot_samples,
)
from exporter.metrics import SampleSet, render
from tests.vsphere.conftest import DATA
from tests.vsphere.record import HOST_BOOT
from tests.vsphere.scenario import CPU_IDLE_MS

T = "lab"


@pytest.fixture(scope="module")
def lab() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / "lab.json").read_text())
    return loaded


@pytest.fixture(scope="module")
def samples(lab: dict[str, Any]) -> SampleSet:
    return snapshot_samples(T, Snapshot.from_dict(lab))


def series(samples: SampleSet, family: Any, **match: str) -> dict[tuple[str, ...], float]:
    names = family.labels
    return {
        key: value
        for key, value in samples.series.get(family, {}).items()
        if all(key[names.index(k)] == v for k, v in match.items())
    }


def one(samples: SampleSet, family: Any, **labels: str) -> float | None:
    return samples.value(family, target=T, **labels)


# The autostart matrix of tests/vsphere/scenario.py: (host, vm) -> enabled, order, delay
MATRIX = {
    ("DC0_H0", "DC0_H0_VM0"): (1, 1, 10),
    ("DC0_H0", "DC0_H0_VM1"): (1, 4, 30),  # systemDefault, order -1, delay -1
    ("DC0_H0", "DC0_H0_VM2"): (0, 2, 5),  # none
    ("DC0_H0", "DC0_H0_VM3"): (0, None, None),  # absent from powerInfo
    ("DC0_H0", "DC0_H0_VM4"): (1, 3, 30),  # powerOn, powered off
    ("DC0_H1", "DC0_H1_VM0"): (0, 1, 10),  # host defaults disabled
    ("DC0_H1", "DC0_H1_VM1"): (0, 2, 120),
    ("DC0_H1", "DC0_H1_VM5"): (0, None, None),
}


@pytest.mark.parametrize(("where", "expected"), MATRIX.items(), ids=[v for _, v in MATRIX])
def test_autostart_matrix(
    samples: SampleSet, where: tuple[str, str], expected: tuple[int, int | None, int | None]
) -> None:
    host, vm = where
    enabled, order, delay = expected
    assert one(samples, fam.VM_AUTOSTART_ENABLED, host=host, vm=vm) == enabled
    assert one(samples, fam.VM_AUTOSTART_ORDER, host=host, vm=vm) == order
    assert one(samples, fam.VM_AUTOSTART_DELAY, host=host, vm=vm) == delay


def test_host_autostart_flag(samples: SampleSet) -> None:
    assert one(samples, fam.HOST_AUTOSTART_ENABLED, host="DC0_H0") == 1
    assert one(samples, fam.HOST_AUTOSTART_ENABLED, host="DC0_H1") == 0
    assert one(samples, fam.HOST_AUTOSTART_ENABLED, host="DC0_H2") == 0


def test_autostart_vm_powered_off_is_visible_to_the_alert(samples: SampleSet) -> None:
    labels = {"host": "DC0_H0", "vm": "DC0_H0_VM4"}
    assert one(samples, fam.VM_AUTOSTART_ENABLED, **labels) == 1
    assert one(samples, fam.VM_POWER_STATE.family, **labels, state="stopped") == 1
    assert one(samples, fam.VM_POWER_STATE.family, **labels, state="running") == 0
    assert one(samples, fam.VM_BOOT_TIMESTAMP, **labels) is None  # running VMs only


def test_system_default_follows_host_defaults(lab: dict[str, Any]) -> None:
    """Flipping only the host's defaults flag turns systemDefault and powerOn VMs off."""
    data = copy.deepcopy(lab)
    for obj in data["objects"].values():
        if obj["type"] == "HostAutoStartManager":
            obj["config"]["defaults"]["enabled"] = False
    out = snapshot_samples(T, Snapshot.from_dict(data))
    assert set(series(out, fam.VM_AUTOSTART_ENABLED).values()) == {0}


def test_autostart_from_host_config_copy(lab: dict[str, Any], samples: SampleSet) -> None:
    """The fallback read (each host's config.autoStart, no managers) gives the same."""
    data = copy.deepcopy(lab)
    objects = data["objects"]
    for host in [o for o in objects.values() if o["type"] == "HostSystem"]:
        manager = objects.pop(host.pop("configManager.autoStartManager"))
        host["config.autoStart"] = manager["config"]
    out = snapshot_samples(T, Snapshot.from_dict(data))
    for family in (
        fam.VM_AUTOSTART_ENABLED,
        fam.VM_AUTOSTART_ORDER,
        fam.VM_AUTOSTART_DELAY,
        fam.HOST_AUTOSTART_ENABLED,
    ):
        assert out.series[family] == samples.series[family], family.name


def test_power_states_and_connection(samples: SampleSet) -> None:
    running = series(samples, fam.VM_POWER_STATE.family, state="running")
    assert sum(running.values()) == 6 + 6 - 1  # H0 and H1 VMs except the powered-off one
    # H2 is not responding: its state and its VMs' stale power state are shown as such
    assert (
        one(samples, fam.HOST_CONNECTION_STATE.family, host="DC0_H2", state="not_responding") == 1
    )
    for state in ("connected", "disconnected"):
        assert one(samples, fam.HOST_CONNECTION_STATE.family, host="DC0_H2", state=state) == 0
    unknown = series(samples, fam.VM_POWER_STATE.family, host="DC0_H2", state="unknown")
    assert len(unknown) == 6 and set(unknown.values()) == {1}
    # every VM has exactly one state set to 1
    per_vm: dict[tuple[str, ...], float] = {}
    for key, value in samples.series[fam.VM_POWER_STATE.family].items():
        per_vm[key[:3]] = per_vm.get(key[:3], 0) + value
    assert set(per_vm.values()) == {1}


def test_not_responding_host_gets_no_window_families(lab: dict[str, Any]) -> None:
    data = copy.deepcopy(lab)
    h2 = next(k for k, o in data["objects"].items() if o.get("name") == "DC0_H2")
    data["perf"][h2] = {"cpu.idle.summation": {"": (100.0, 20.0)}}  # a stale sample
    out = snapshot_samples(T, Snapshot.from_dict(data))
    assert out.value(fam.HOST_CPU_IDLE_RATIO, target=T, host="DC0_H2") is None
    hosts, vms = perf_targets(Snapshot.from_dict(lab))
    assert h2 not in hosts
    h2_vms = {k for k, o in lab["objects"].items() if o.get("runtime.host") == h2}
    assert not h2_vms & set(vms)


def test_host_state(samples: SampleSet) -> None:
    assert one(samples, fam.HOST_MAINTENANCE_MODE, host="DC0_H1") == 1
    assert one(samples, fam.HOST_MAINTENANCE_MODE, host="DC0_H0") == 0
    assert one(samples, fam.HOST_BOOT_TIMESTAMP, host="DC0_H0") == HOST_BOOT
    assert one(samples, fam.HOST_MEMORY_USAGE_RATIO, host="DC0_H0") == pytest.approx(
        1404 * 1048576 / 4294430720
    )
    info = series(samples, fam.HOST_INFO, host="DC0_H0")
    assert list(info) == [(T, "DC0_H0", "vsphere", "", "6.5.0")]  # standalone: no cluster


def test_injected_perf(samples: SampleSet) -> None:
    assert one(samples, fam.HOST_CPU_IDLE_RATIO, host="DC0_H0") == pytest.approx(
        CPU_IDLE_MS / (20 * 1000 * 2)
    )
    assert one(
        samples, fam.HOST_PACKET_LOSS_RATIO, host="DC0_H0", interface="vmnic0"
    ) == pytest.approx(0.01)
    assert one(samples, fam.HOST_DISK_QUEUE_LENGTH, host="DC0_H0", device="naa.1") == pytest.approx(
        60.0
    )
    vm = {"host": "DC0_H0", "vm": "DC0_H0_VM0"}
    assert one(samples, fam.VM_DISK_QUEUE_LENGTH, **vm, disk="scsi0:0") == 55
    assert one(samples, fam.VM_PACKET_LOSS_RATIO, **vm, interface="4000") == pytest.approx(1 / 200)


def test_query_echo_instances_are_not_interfaces(samples: SampleSet) -> None:
    """The simulator answers instance "*" with one series named "*"; no such interface."""
    for family in (fam.VM_PACKET_LOSS_RATIO, fam.HOST_PACKET_LOSS_RATIO):
        assert all("*" not in key for key in samples.series.get(family, {}))


def test_duplicate_names_give_two_series(samples: SampleSet) -> None:
    info = series(samples, fam.VM_INFO, host="DC0_H1")
    names = sorted(key[2] for key in info)
    twins = [n for n in names if n.startswith("DC0_H1_VM2")]
    assert len(twins) == 2 and twins[0] != twins[1], names
    assert all(n.startswith("DC0_H1_VM2 [vm-") for n in twins)
    uuids = {key[4] for key in info if key[2] in twins}
    assert len(uuids) == 2
    assert samples.duplicates == 0


def test_tools(samples: SampleSet) -> None:
    assert one(samples, fam.VM_GUEST_TOOLS_RUNNING, host="DC0_H0", vm="DC0_H0_VM0") == 1
    assert one(samples, fam.VM_GUEST_TOOLS_RUNNING, host="DC0_H0", vm="DC0_H0_VM1") == 0
    # Tools not installed: unknown, no series (the alert must not fire for these)
    assert one(samples, fam.VM_GUEST_TOOLS_RUNNING, host="DC0_H0", vm="DC0_H0_VM2") is None


def test_vm_info_placement(samples: SampleSet) -> None:
    info = series(samples, fam.VM_INFO, vm="DC0_H0_VM0")
    ((key, value),) = info.items()
    assert value == 1
    _, host, _, platform, uuid, cluster, datacenter = key
    assert (host, platform, cluster, datacenter) == ("DC0_H0", "vsphere", "", "DC0")
    assert len(uuid) == 36


def test_datastores(samples: SampleSet) -> None:
    capacity = one(samples, fam.DATASTORE_CAPACITY, datastore="LocalDS_0")
    free = one(samples, fam.DATASTORE_FREE, datastore="LocalDS_0")
    assert capacity and free is not None and 0 <= free <= capacity
    assert one(samples, fam.DATASTORE_ACCESSIBLE, datastore="LocalDS_0") == 1


def test_cluster_and_datacenter_from_parents() -> None:
    objects: dict[str, dict[str, Any]] = {
        "group-d1": {"type": "Folder", "name": "Datacenters"},
        "dc-1": {"type": "Datacenter", "name": "Lab", "parent": "group-d1"},
        "group-h1": {"type": "Folder", "name": "host", "parent": "dc-1"},
        "group-h2": {"type": "Folder", "name": "rack7", "parent": "group-h1"},
        "domain-c1": {"type": "ClusterComputeResource", "name": "Gold", "parent": "group-h2"},
        "host-1": {
            "type": "HostSystem",
            "name": "esx1",
            "parent": "domain-c1",
            "runtime.connectionState": "connected",
        },
        "vm-1": {
            "type": "VirtualMachine",
            "name": "db",
            "runtime.host": "host-1",
            "runtime.powerState": "poweredOn",
            "config.uuid": "u1",
        },
        "vm-2": {
            "type": "VirtualMachine",
            "name": "tpl",
            "runtime.host": "host-1",
            "runtime.powerState": "poweredOff",
            "config.template": True,
        },
    }
    out = snapshot_samples(T, Snapshot(objects))
    assert list(out.series[fam.VM_INFO]) == [(T, "esx1", "db", "vsphere", "u1", "Gold", "Lab")]
    # no autostart manager read: no autostart order, the VM does not take part
    assert one(out, fam.VM_AUTOSTART_ENABLED, host="esx1", vm="db") == 0
    assert one(out, fam.HOST_AUTOSTART_ENABLED, host="esx1") is None


def test_exposition_is_valid(samples: SampleSet) -> None:
    text = render([samples])
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {
        "hypervisor_vm_autostart_enabled",
        "hypervisor_host_autostart_enabled",
        "hypervisor_host_cpu_idle_ratio",
    } <= names


def test_capacity_from_inventory(lab: dict[str, Any], samples: SampleSet) -> None:
    objects = lab["objects"]
    vms = {m: o for m, o in objects.items() if o["type"] == "VirtualMachine"}
    assert len(series(samples, fam.VM_VCPUS)) == len(vms)
    for moid, vm in vms.items():
        names = (vm["name"], f"{vm['name']} [{moid}]")  # a duplicate name carries its moid
        [key] = [k for k in series(samples, fam.VM_VCPUS) if k[2] in names]
        assert samples.series[fam.VM_VCPUS][key] == vm["config.hardware.numCPU"]
        assert samples.series[fam.VM_MEMORY][key] == vm["config.hardware.memoryMB"] * 1024**2
    host = next(
        o for o in objects.values() if o["type"] == "HostSystem" and o.get("name") == "DC0_H0"
    )
    assert one(samples, fam.HOST_CPUS, host="DC0_H0") == host["summary.hardware.numCpuThreads"]
    assert one(samples, fam.HOST_CPU_CAPACITY, host="DC0_H0") == (
        host["summary.hardware.numCpuCores"] * host["summary.hardware.cpuMhz"] * 1e6
    )
    assert one(samples, fam.HOST_VMS, host="DC0_H0", state="running") == 5
    assert one(samples, fam.HOST_VMS, host="DC0_H0", state="stopped") == 1


def test_capacity_from_realtime_samples(samples: SampleSet) -> None:
    vm = {"host": "DC0_H0", "vm": "DC0_H0_VM0"}
    assert one(samples, fam.VM_CPU_USAGE_RATIO, **vm) == pytest.approx(0.25)
    assert one(samples, fam.VM_MEMORY_USED, **vm) == 512 * 1024**2
    assert one(samples, fam.VM_DISK_READ_RATE, **vm, disk="scsi0:0") == 1024 * 1024
    assert one(samples, fam.VM_DISK_WRITE_RATE, **vm, disk="scsi0:0") == 512 * 1024
    assert one(samples, fam.VM_NET_RX_RATE, **vm, interface="4000") == 100 * 1024
    assert one(samples, fam.VM_NET_TX_RATE, **vm, interface="4000") == 50 * 1024
    # Powered-off VMs keep their configuration but have no usage.
    assert one(samples, fam.VM_VCPUS, host="DC0_H0", vm="DC0_H0_VM4") is not None
    assert one(samples, fam.VM_CPU_USAGE_RATIO, host="DC0_H0", vm="DC0_H0_VM4") is None


def test_datastore_provisioned_and_vms(lab: dict[str, Any]) -> None:
    data = copy.deepcopy(lab)
    [ds] = [o for o in data["objects"].values() if o["type"] == "Datastore"]
    got = snapshot_samples(T, Snapshot.from_dict(data))
    want = ds["summary.capacity"] - ds["summary.freeSpace"] + ds["summary.uncommitted"]
    assert one(got, fam.DATASTORE_PROVISIONED, datastore=ds["name"]) == want
    assert one(got, fam.DATASTORE_VMS, datastore=ds["name"]) == len(ds["vm"]) > 0
    # vCenter leaves uncommitted unset until it has computed it: provisioned is then
    # unknown (absent), not capacity - free.
    del ds["summary.uncommitted"]
    del ds["vm"]  # and the VIM API leaves an empty array out: no VMs
    got = snapshot_samples(T, Snapshot.from_dict(data))
    assert not series(got, fam.DATASTORE_PROVISIONED)
    assert one(got, fam.DATASTORE_VMS, datastore=ds["name"]) == 0


def _vm_perf(cpu: float, read: float) -> EntityPerf:
    """A VM's perf as read: an alerting counter and two capacity counters."""
    return {
        "virtualDisk.readOIO.latest": {"scsi0:0": (2.0, 20.0)},
        "cpu.usage.average": {"": (cpu, 20.0)},
        "virtualDisk.read.average": {"scsi0:0": (read, 20.0)},
    }


def test_capacity_due_by_age() -> None:
    kept = KeptCapacity(300)
    assert kept.due(["vm-1", "vm-2"], 1000) == {"vm-1", "vm-2"}  # never read
    perf = {"vm-1": _vm_perf(2500, 10), "vm-2": _vm_perf(100, 1)}
    kept.update(perf, {"vm-1", "vm-2"}, {"vm-1", "vm-2"}, 1000)
    assert kept.due(["vm-1", "vm-2", "vm-3"], 1299.9) == {"vm-3"}  # vm-3 newly running
    assert kept.due(["vm-1", "vm-2"], 1300) == {"vm-1", "vm-2"}
    # every collection with 0, as before the key existed
    every = KeptCapacity(0)
    every.update({"vm-1": _vm_perf(1, 1)}, {"vm-1"}, {"vm-1"}, 1000)
    assert every.due(["vm-1"], 1000) == {"vm-1"}
    assert every.read == {}  # nothing kept when nothing is served from it


def test_kept_capacity_served_between_reads() -> None:
    kept = KeptCapacity(300)
    kept.update({"vm-1": _vm_perf(2500, 10)}, {"vm-1"}, {"vm-1"}, 1000)
    # next collection: vm-1 not due, asked only its alerting counters
    perf = {"vm-1": {"virtualDisk.readOIO.latest": {"scsi0:0": (7.0, 20.0)}}}
    kept.update(perf, {"vm-1"}, set(), 1020)
    assert perf["vm-1"] == {
        "virtualDisk.readOIO.latest": {"scsi0:0": (7.0, 20.0)},  # fresh
        "cpu.usage.average": {"": (2500, 20.0)},  # kept
        "virtualDisk.read.average": {"scsi0:0": (10, 20.0)},
    }
    # the kept values become samples like fresh ones
    snap = Snapshot(
        {
            "host-1": {"type": "HostSystem", "name": "h", "runtime.connectionState": "connected"},
            "vm-1": {
                "type": "VirtualMachine",
                "name": "v",
                "runtime.host": "host-1",
                "runtime.powerState": "poweredOn",
            },
        },
        perf,
    )
    got = snapshot_samples(T, snap)
    assert one(got, fam.VM_CPU_USAGE_RATIO, host="h", vm="v") == pytest.approx(0.25)
    assert one(got, fam.VM_DISK_READ_RATE, host="h", vm="v", disk="scsi0:0") == 10 * 1024
    # a fresh read replaces them; the read time moves on
    perf = {"vm-1": _vm_perf(5000, 20)}
    kept.update(perf, {"vm-1"}, {"vm-1"}, 1300)
    assert kept.read["vm-1"][0] == 1300
    assert kept.read["vm-1"][1]["cpu.usage.average"] == {"": (5000, 20.0)}
    assert "virtualDisk.readOIO.latest" not in kept.read["vm-1"][1]  # capacity only


def test_kept_capacity_forgotten_when_not_running_and_when_asked_for_none() -> None:
    kept = KeptCapacity(300)
    kept.update(
        {"vm-1": _vm_perf(1, 1), "vm-2": _vm_perf(2, 2)}, {"vm-1", "vm-2"}, {"vm-1", "vm-2"}, 0
    )
    # vm-2 stopped (or left, or its host disconnected): no longer running
    perf: dict[str, Any] = {}
    kept.update(perf, {"vm-1"}, set(), 20)
    assert set(kept.read) == {"vm-1"} and set(perf) == {"vm-1"}
    # running again: due at once, and nothing stale served meanwhile
    assert kept.due(["vm-1", "vm-2"], 40) == {"vm-2"}
    # asked, but vCenter had no capacity sample: nothing served, asked again next time
    perf = {"vm-2": {"virtualDisk.readOIO.latest": {"scsi0:0": (1.0, 20.0)}}}
    kept.update(perf, {"vm-1", "vm-2"}, {"vm-2"}, 40)
    assert "cpu.usage.average" not in perf["vm-2"]
    assert kept.due(["vm-1", "vm-2"], 60) == {"vm-2"}
    # a failed batch (not answered, so not asked): the kept values are served meanwhile
    perf = {}
    kept.update(perf, {"vm-1"}, set(), 400)
    assert perf["vm-1"]["cpu.usage.average"] == {"": (1, 20.0)}
    assert kept.due(["vm-1"], 400) == {"vm-1"}
