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
