"""Capacity families against the project's vCenter simulator: what vCenter's inventory
says, and the realtime samples it serves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.exporter import Exporter
from harness.exposition import parse, value
from harness.vcsim import Vcsim
from tests.vsphere import scenario

Start = Callable[..., Exporter]


def inventory(sim: Vcsim) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int, int]]]:
    """({vm: (numCPU, memoryMB)}, {host: (threads, cores, MHz)}) as pyvmomi reads them."""
    from pyVmomi import vim

    content = sim.connect().RetrieveContent()

    def objects(kind: object) -> list[Any]:
        view = content.viewManager.CreateContainerView(content.rootFolder, [kind], True)
        try:
            return list(view.view)
        finally:
            view.Destroy()

    vms = {
        vm.name: (vm.config.hardware.numCPU, vm.config.hardware.memoryMB)
        for vm in objects(vim.VirtualMachine)
        if not vm.config.template
    }
    hosts = {
        h.name: (
            h.summary.hardware.numCpuThreads,
            h.summary.hardware.numCpuCores,
            h.summary.hardware.cpuMhz,
        )
        for h in objects(vim.HostSystem)
    }
    return vms, hosts


def test_vcpus_and_memory_match_the_inventory_for_every_vm(
    vcsim: Vcsim, start_exporter: Start
) -> None:
    vms, hosts = inventory(vcsim)
    assert len(vms) == 18
    text = start_exporter([vcsim.target()]).metrics()
    ours = parse(text)
    vcpus = {s["vm"]: v for s, v in ours["hypervisor_vm_vcpus"] if s["target"] == "vc"}
    memory = {s["vm"]: v for s, v in ours["hypervisor_vm_memory_bytes"] if s["target"] == "vc"}
    assert vcpus == {name: cpus for name, (cpus, _) in vms.items()}
    assert memory == {name: mb * 1024**2 for name, (_, mb) in vms.items()}
    for name, (threads, cores, mhz) in hosts.items():
        assert value(text, "hypervisor_host_cpus", host=name) == threads
        assert value(text, "hypervisor_host_cpu_capacity_hertz", host=name) == cores * mhz * 1e6
        assert value(text, "hypervisor_host_vms", host=name, state="running") == 6
        assert value(text, "hypervisor_host_vms", host=name, state="stopped") == 0


def test_capacity_from_realtime_samples(vcsim: Vcsim, start_exporter: Start) -> None:
    want = scenario.inject_load(vcsim)
    text = start_exporter([vcsim.target()]).metrics()
    vm = {"target": "vc", "host": "DC0_H0", "vm": "DC0_H0_VM0"}
    assert value(text, "hypervisor_vm_cpu_usage_ratio", **vm) == pytest.approx(want["vm_cpu_usage"])
    assert value(text, "hypervisor_vm_memory_used_bytes", **vm) == want["vm_memory_used"]
    disk, nic = {**vm, "disk": "scsi0:0"}, {**vm, "interface": "4000"}
    assert value(text, "hypervisor_vm_disk_read_bytes_per_second", **disk) == want["vm_disk_read"]
    assert value(text, "hypervisor_vm_disk_write_bytes_per_second", **disk) == want["vm_disk_write"]
    assert value(text, "hypervisor_vm_network_receive_bytes_per_second", **nic) == want["vm_rx"]
    assert value(text, "hypervisor_vm_network_transmit_bytes_per_second", **nic) == want["vm_tx"]
    # vCenter keeps no cumulative counters: no _total series on vSphere.
    assert "hypervisor_vm_disk_read_bytes_total" not in parse(text)


def test_datastore_vms_and_provisioned_space(vcsim: Vcsim, start_exporter: Start) -> None:
    from pyVmomi import vim

    content = vcsim.connect().RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.Datastore], True)
    try:
        want = {ds.name: len(ds.vm) for ds in view.view}
        summaries = {ds.name: ds.summary for ds in view.view}
    finally:
        view.Destroy()
    text = start_exporter([vcsim.target()]).metrics()
    ours = {
        s["datastore"]: v for s, v in parse(text)["hypervisor_datastore_vms"] if s["target"] == "vc"
    }
    assert ours == want and sum(want.values()) > 0
    provisioned = {
        s["datastore"]: v
        for s, v in parse(text)["hypervisor_datastore_provisioned_bytes"]
        if s["target"] == "vc"
    }
    # The simulator's datastores sit on this machine's disk, whose free space moves a
    # little between two reads; its summary object drops an uncommitted of 0 (omitempty),
    # the property path summary.uncommitted the exporter reads says 0.
    assert provisioned == {
        name: pytest.approx(
            summary.capacity - summary.freeSpace + (summary.uncommitted or 0), rel=1e-3
        )
        for name, summary in summaries.items()
    }


def _series(text: str, family: str) -> dict[str, float]:
    return {s["vm"]: v for s, v in parse(text).get(family, []) if s["target"] == "vc"}


def _collect(exporter: Exporter, sim: Vcsim) -> tuple[str, int]:
    """One scrape: (exposition, bytes of QueryPerf answers the simulator sent for it)."""
    before = sim.sent_bytes().get("QueryPerf", 0)
    text = exporter.metrics()
    return text, sim.sent_bytes().get("QueryPerf", 0) - before


def _capacity_interval_run(
    sim: Vcsim, start_exporter: Start, interval: float
) -> tuple[list[str], list[int]]:
    """Three scrapes with `capacity_interval` set: the first with DC0_H0_VM5 powered off;
    before the second the load of DC0_H0_VM0 changes (a capacity counter and an alerting
    one); before the third DC0_H0_VM5 is powered on with a known CPU use."""
    scenario.inject_load(sim)
    si = sim.connect()
    ids = scenario.vm_ids(sim)
    scenario.power(si, ids["DC0_H0_VM5"], False)
    exporter = start_exporter([sim.target(capacity_interval=interval)])
    texts, sent = [], []
    for step in range(3):
        if step == 1:
            sim.inject_perf("DC0_H0_VM0", "cpu.usage.average", "", 5000)
            sim.inject_perf("DC0_H0_VM0", "virtualDisk.readOIO.latest", "scsi0:0", 40)
        if step == 2:
            sim.inject_perf("DC0_H0_VM5", "cpu.usage.average", "", 1200)
            scenario.power(si, ids["DC0_H0_VM5"], True)
        text, answer_bytes = _collect(exporter, sim)
        texts.append(text)
        sent.append(answer_bytes)
    return texts, sent


def test_capacity_interval_serves_kept_values_between_reads(
    vcsim: Vcsim, start_exporter: Start
) -> None:
    texts, sent = _capacity_interval_run(vcsim, start_exporter, 3600)
    vm0 = {"target": "vc", "host": "DC0_H0", "vm": "DC0_H0_VM0"}
    first, second, third = (_series(t, "hypervisor_vm_cpu_usage_ratio") for t in texts)
    # The second collection does not ask the capacity counters: VM0 keeps the CPU use
    # read first, while its alerting counter (asked every time) shows the change.
    assert value(texts[1], "hypervisor_vm_cpu_usage_ratio", **vm0) == pytest.approx(0.25)
    assert value(texts[1], "hypervisor_vm_disk_queue_length", **vm0, disk="scsi0:0") == 65
    # ... and every running VM keeps all its capacity series (none goes stale)
    assert len(first) == 17 and second == first
    for family in (
        "hypervisor_vm_memory_used_bytes",
        "hypervisor_vm_disk_read_bytes_per_second",
        "hypervisor_vm_network_transmit_bytes_per_second",
    ):
        assert parse(texts[1])[family] == parse(texts[0])[family]
    # the answers without the six capacity counters of 17 VMs are much smaller
    assert sent[1] < 0.75 * sent[0], sent
    # A VM powered on between collections is asked them in its first collection.
    assert third["DC0_H0_VM5"] == pytest.approx(0.12)
    assert {k: v for k, v in third.items() if k != "DC0_H0_VM5"} == first
    assert sent[1] < sent[2] < sent[0], sent


def test_capacity_interval_0_asks_them_every_collection(
    vcsim: Vcsim, start_exporter: Start
) -> None:
    texts, sent = _capacity_interval_run(vcsim, start_exporter, 0)
    vm0 = {"target": "vc", "host": "DC0_H0", "vm": "DC0_H0_VM0"}
    assert value(texts[0], "hypervisor_vm_cpu_usage_ratio", **vm0) == pytest.approx(0.25)
    assert value(texts[1], "hypervisor_vm_cpu_usage_ratio", **vm0) == pytest.approx(0.5)
    assert value(texts[1], "hypervisor_vm_disk_queue_length", **vm0, disk="scsi0:0") == 65
    assert len(_series(texts[1], "hypervisor_vm_cpu_usage_ratio")) == 17
    assert _series(texts[2], "hypervisor_vm_cpu_usage_ratio")["DC0_H0_VM5"] == pytest.approx(0.12)
    # every collection asks every counter: answers of about the same size
    assert abs(sent[1] - sent[0]) < 0.05 * sent[0], sent
