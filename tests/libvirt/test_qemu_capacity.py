"""Capacity families against a real libvirtd with QEMU (TCG): everything from the bulk stats."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path

from harness import exposition
from harness.exporter import Exporter
from harness.libvirtd import Libvirtd


def test_qemu_vm_capacity_and_rates(libvirtd: Libvirtd, tmp_path: Path) -> None:
    libvirtd.define_domain("hx-cap", start=True)
    conn = libvirtd.connect()
    try:
        root = ET.fromstring(conn.lookupByName("hx-cap").XMLDesc(0))
    finally:
        conn.close()
    vcpu, memory = root.find("vcpu"), root.find("memory")
    assert vcpu is not None and memory is not None and memory.get("unit") == "KiB"
    assert vcpu.text and memory.text
    want_vcpus = int(vcpu.get("current", vcpu.text))
    want_memory = int(memory.text) * 1024

    exporter = Exporter(
        {"targets": [{"name": "kvm", "kind": "libvirt", "uri": libvirtd.uri}]}, tmp_path
    )
    try:
        exporter.metrics()
        time.sleep(2)
        text = exporter.metrics()
    finally:
        exporter.stop()
    vm = {"target": "kvm", "vm": "hx-cap"}
    assert exposition.value(text, "hypervisor_vm_vcpus", **vm) == want_vcpus
    assert exposition.value(text, "hypervisor_vm_memory_bytes", **vm) == want_memory
    # The QEMU process's resident memory: real, and not more than guest RAM plus QEMU itself.
    used = exposition.value(text, "hypervisor_vm_memory_used_bytes", **vm)
    assert 0 < used < want_memory + 1024**3
    ratio = exposition.value(text, "hypervisor_vm_cpu_usage_ratio", **vm)
    assert 0 < ratio <= 1  # TCG in SeaBIOS keeps its vCPU busy
    assert exposition.value(text, "hypervisor_vm_cpu_seconds_total", **vm) > 0
    for family in (
        "hypervisor_vm_disk_read_bytes_per_second",
        "hypervisor_vm_disk_write_bytes_per_second",
    ):
        rates = exposition.values(text, family, **vm, disk="vda")
        assert len(rates) == 1 and rates[0] >= 0
    # SeaBIOS read its boot disk: the counter is real, not a placeholder.
    assert exposition.value(text, "hypervisor_vm_disk_read_bytes_total", **vm, disk="vda") > 0
    for family in (
        "hypervisor_vm_network_receive_bytes_per_second",
        "hypervisor_vm_network_transmit_bytes_per_second",
        "hypervisor_vm_network_receive_bytes_total",
    ):
        assert len(exposition.values(text, family, **vm)) == 1
    assert exposition.value(text, "hypervisor_host_cpus", target="kvm") >= 1
    assert exposition.value(text, "hypervisor_host_cpu_capacity_hertz", target="kvm") > 0
    assert exposition.value(text, "hypervisor_host_vms", target="kvm", state="running") >= 1
    assert exposition.promtool_lint(text) == ""
