"""Capacity families on libvirt's test driver: vCPUs, memory, CPU, disk and NIC throughput,
host CPUs, VMs per state, pools' provisioned space and VMs.

The test driver's bulk stats carry only `state.*`; everything else here comes through the
per-domain fallback, as it would on any driver whose bulk stats are partial.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import libvirt
import pytest

from exporter import families as fam
from exporter.blocking import WorkerPool
from exporter.collectors.libvirt import (
    Domain,
    LibvirtCollector,
    LibvirtTarget,
    PerDomainFallback,
    Snapshot,
    snapshot_samples,
)
from exporter.metrics import SampleSet, render
from harness import exposition

QEMU_SNAPSHOTS = Path(__file__).parent / "data" / "qemu-snapshots.json"

# name: (state, vCPUs current/maximum, memory KiB, has devices)
DOMAINS: dict[str, tuple[int, int, int, int, bool]] = {
    "web": (1, 2, 4, 524288, True),
    "db": (1, 4, 4, 2097152, True),
    "idle": (3, 1, 2, 262144, True),
    "old": (5, 1, 1, 131072, True),
    "bare": (1, 1, 1, 65536, False),
}


def node(tmp_path: Path) -> str:
    body = ""
    for name, (state, current, maximum, kib, devices) in DOMAINS.items():
        devs = (
            f"""<devices>
      <disk type="file" device="disk"><source file="/pool/{name}.qcow2"/>
        <target dev="vda" bus="virtio"/></disk>
      <interface type="network"><mac address="52:54:00:00:00:{len(body) % 256:02x}"/>
        <source network="default"/></interface>
    </devices>"""
            if devices
            else ""
        )
        body += f"""
  <domain type="test">
    <name>{name}</name>
    <memory unit="KiB">{kib}</memory>
    <vcpu current="{current}">{maximum}</vcpu>
    <os><type>hvm</type></os>
    {devs}
    <test:runstate>{state}</test:runstate>
  </domain>"""
    volumes = "".join(
        f"""<volume type="file"><name>{name}.qcow2</name>
      <capacity unit="GiB">{size}</capacity><allocation unit="GiB">1</allocation>
      <target><path>/pool/{name}.qcow2</path></target></volume>"""
        for name, size in (("web", 20), ("db", 50), ("idle", 10), ("spare", 5))
    )
    path = tmp_path / "node.xml"
    path.write_text(f"""<node xmlns:test="http://libvirt.org/schemas/domain/test/1.0">
  <cpu><mhz>2400</mhz><model>x86_64</model><active>16</active><nodes>1</nodes>
    <sockets>2</sockets><cores>4</cores><threads>2</threads></cpu>
  <memory>8192000</memory>{body}
  <pool type="dir"><name>images</name>
    <capacity unit="GiB">100</capacity><allocation unit="GiB">4</allocation>
    <available unit="GiB">96</available><target><path>/pool</path></target>{volumes}</pool>
</node>
""")
    return f"test://{path}"


async def two_collections(uri: str) -> tuple[SampleSet, SampleSet]:
    collector = LibvirtCollector(LibvirtTarget(name="t", uri=uri), WorkerPool().lane("t", 2))
    try:
        first = await collector.collect()
        time.sleep(0.3)  # the test driver's counters follow the wall clock
        return first, await collector.collect()
    finally:
        await collector.close()


def xml_facts(uri: str) -> dict[str, tuple[int, int]]:
    """name: (vCPUs, memory bytes) as each domain's own XML says."""
    conn = libvirt.openReadOnly(uri)
    try:
        facts = {}
        for dom in conn.listAllDomains():
            root = ET.fromstring(dom.XMLDesc(0))
            vcpu = root.find("vcpu")
            memory = root.find("memory")
            assert vcpu is not None and memory is not None and vcpu.text and memory.text
            assert memory.get("unit") == "KiB"
            facts[dom.name()] = (int(vcpu.get("current", vcpu.text)), int(memory.text) * 1024)
        return facts
    finally:
        conn.close()


async def test_vcpus_and_memory_match_the_domain_xml(tmp_path: Path) -> None:
    uri = node(tmp_path)
    _, samples = await two_collections(uri)
    text = render([samples])
    facts = xml_facts(uri)
    assert set(facts) == set(DOMAINS)
    for name, (vcpus, memory) in facts.items():
        assert exposition.value(text, "hypervisor_vm_vcpus", vm=name) == vcpus, name
        assert exposition.value(text, "hypervisor_vm_memory_bytes", vm=name) == memory, name
    # The XML is the one the node file set, not a default.
    assert facts["db"] == (4, 2 * 1024**3) and facts["web"] == (2, 512 * 1024**2)


async def test_cpu_disk_and_network_through_per_domain_calls(tmp_path: Path) -> None:
    first, second = await two_collections(node(tmp_path))
    text, first_text = render([second]), render([first])
    for name in ("web", "db", "idle"):  # active domains with a disk and a NIC
        read = exposition.values(text, "hypervisor_vm_disk_read_bytes_per_second", vm=name)
        write = exposition.values(text, "hypervisor_vm_disk_write_bytes_per_second", vm=name)
        assert len(read) == 1 and read[0] > 0 and len(write) == 1 and write[0] > 0
        rx = exposition.values(text, "hypervisor_vm_network_receive_bytes_per_second", vm=name)
        tx = exposition.values(text, "hypervisor_vm_network_transmit_bytes_per_second", vm=name)
        assert len(rx) == 1 and rx[0] > 0 and len(tx) == 1 and tx[0] > 0
        assert exposition.values(text, "hypervisor_vm_disk_read_bytes_total", vm=name, disk="vda")
        # Rates need two collections: absent on the first, the counters are not.
        assert not exposition.values(first_text, "hypervisor_vm_disk_read_bytes_per_second")
        assert exposition.values(first_text, "hypervisor_vm_network_receive_bytes_total", vm=name)
    for name in ("web", "db", "bare"):  # running: a CPU share of its vCPUs
        ratio = exposition.value(text, "hypervisor_vm_cpu_usage_ratio", vm=name)
        assert 0 <= ratio <= 1
    # Paused: no CPU share; shut off: no CPU, disk or NIC series at all.
    assert not exposition.values(text, "hypervisor_vm_cpu_usage_ratio", vm="idle")
    for family in (
        "hypervisor_vm_cpu_seconds_total",
        "hypervisor_vm_disk_read_bytes_total",
        "hypervisor_vm_network_receive_bytes_total",
    ):
        assert not exposition.values(text, family, vm="old")
    # The test driver does not tell the host memory behind a VM: absent, never 0.
    assert not exposition.values(text, "hypervisor_vm_memory_used_bytes")
    assert exposition.promtool_lint(text) == ""


async def test_host_cpus_vms_and_pool(tmp_path: Path) -> None:
    _, samples = await two_collections(node(tmp_path))
    text = render([samples])
    assert exposition.value(text, "hypervisor_host_cpus", target="t") == 16
    # No memory stats on the test driver: nodeinfo's memory (8192000 KiB, in MiB).
    assert exposition.value(text, "hypervisor_host_memory_bytes", target="t") == 8000 * 1024**2
    # 2400 MHz x 1 node x 2 sockets x 4 cores; hyperthreads not counted, as vCenter does.
    assert exposition.value(text, "hypervisor_host_cpu_capacity_hertz", target="t") == 2400e6 * 8
    by_state = {
        labels["state"]: value
        for labels, value in exposition.parse(text)["hypervisor_host_vms"]
        if labels["target"] == "t"
    }
    assert by_state == {
        "running": 3,
        "paused": 1,
        "stopped": 1,
        "suspended": 0,
        "crashed": 0,
        "unknown": 0,
    }
    pool = {"target": "t", "datastore": "images"}
    provisioned = exposition.value(text, "hypervisor_datastore_provisioned_bytes", **pool)
    assert provisioned == (20 + 50 + 10 + 5) * 1024**3  # thin volumes at their full size
    # web, db and idle have their disk in the pool; old's disk is not one of its volumes
    # and bare has none.
    assert exposition.value(text, "hypervisor_datastore_vms", **pool) == 3


class HungDomain:
    """A domain whose per-domain calls block until released, like a busy QEMU monitor."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def info(self) -> list[Any]:
        self.calls += 1
        self.release.wait(10)
        return [1, 1024, 1024, 1, 0]


def test_a_hung_per_domain_call_costs_that_domain_only() -> None:
    fallback = PerDomainFallback()
    hung = HungDomain()
    stuck = Domain("stuck", "uuid-stuck", 5, False, {})
    first = threading.Thread(target=fallback.fill, args=(hung, stuck, None), daemon=True)
    first.start()
    deadline = time.monotonic() + 5
    while hung.calls == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "uuid-stuck" in fallback.in_flight
    # The next collection skips the stuck domain at once instead of calling it again...
    again = Domain("stuck", "uuid-stuck", 5, False, {})
    started = time.monotonic()
    fallback.fill(hung, again, None)
    assert time.monotonic() - started < 1 and hung.calls == 1 and again.stats == {}
    # ...and still reads every other domain.
    fine_dom = HungDomain()
    fine_dom.release.set()
    fine = Domain("fine", "uuid-fine", 5, False, {})
    fallback.fill(fine_dom, fine, None)
    assert fine.stats["vcpu.current"] == 1 and fine.stats["balloon.maximum"] == 1024
    hung.release.set()
    first.join(5)
    assert fallback.in_flight == set()


@pytest.mark.parametrize("state", [1, 5])
def test_groups_the_bulk_stats_carry_are_not_asked_again(state: int) -> None:
    class Untouchable:
        def info(self) -> list[Any]:
            raise AssertionError("per-domain call made although the bulk stats had the group")

    stats = {"vcpu.current": 2, "balloon.maximum": 1024, "block.count": 0, "net.count": 0}
    domain = Domain("vm", "uuid", state, False, dict(stats))
    PerDomainFallback().fill(Untouchable(), domain, None)
    assert domain.stats == stats


# --- The pure translation on snapshots recorded from real QEMU (tests/libvirt/record.py) ---
def recorded() -> tuple[Snapshot, Snapshot]:
    first, second = (Snapshot.from_dict(d) for d in json.loads(QEMU_SNAPSHOTS.read_text()))
    return first, second


def later(snapshot: Snapshot, seconds: float, **grown: float) -> Snapshot:
    """`snapshot` `seconds` later, web01's stats grown (keys with _ for .)."""
    out = copy.deepcopy(snapshot)
    out.taken_at += seconds
    dom = next(d for d in out.domains if d.name == "web01")
    for key, amount in grown.items():
        dom.stats[key.replace("_", ".")] += amount
    return out


def test_recorded_qemu_configuration_and_host() -> None:
    first, _ = recorded()
    out = snapshot_samples("kvm", first, None)
    host = first.hostname
    web = {"target": "kvm", "host": host, "vm": "web01"}
    stats = next(d for d in first.domains if d.name == "web01").stats
    assert out.value(fam.VM_VCPUS, **web) == stats["vcpu.current"] == 1
    assert out.value(fam.VM_MEMORY, **web) == stats["balloon.maximum"] * 1024 == 64 * 1024**2
    assert out.value(fam.VM_MEMORY_USED, **web) == stats["balloon.rss"] * 1024
    # Shut off: configuration yes, usage no.
    db = {**web, "vm": "db01"}
    assert out.value(fam.VM_VCPUS, **db) == 1
    assert out.value(fam.VM_MEMORY_USED, **db) is None
    assert out.value(fam.VM_CPU_SECONDS, **db) is None
    _model, _mib, cpus, mhz, nodes, sockets, cores, _threads = first.node_info or []
    assert out.value(fam.HOST_CPUS, target="kvm", host=host) == cpus
    assert out.value(fam.HOST_CPU_CAPACITY, target="kvm", host=host) == (
        mhz * 1e6 * nodes * sockets * cores
    )
    assert out.value(fam.HOST_VMS, target="kvm", host=host, state="running") == 1
    assert out.value(fam.HOST_VMS, target="kvm", host=host, state="stopped") == 1
    # No rates without a window.
    assert fam.VM_CPU_USAGE_RATIO not in out.series
    assert fam.VM_DISK_READ_RATE not in out.series


def test_recorded_qemu_rates_over_the_window() -> None:
    first, _ = recorded()
    second = later(
        first,
        2.0,
        cpu_time=0.5e9,
        block_0_rd_bytes=4096,
        block_0_wr_bytes=8192,
        net_0_rx_bytes=1000,
        net_0_tx_bytes=3000,
    )
    out = snapshot_samples("kvm", second, first)
    web = {"target": "kvm", "host": first.hostname, "vm": "web01"}
    web01 = next(d for d in second.domains if d.name == "web01")
    disk, nic = web01.stats["block.0.name"], web01.stats["net.0.name"]
    assert out.value(fam.VM_CPU_USAGE_RATIO, **web) == pytest.approx(0.25)  # 0.5 s of 2 s, 1 vCPU
    assert out.value(fam.VM_DISK_READ_RATE, **web, disk=disk) == 2048
    assert out.value(fam.VM_DISK_WRITE_RATE, **web, disk=disk) == 4096
    assert out.value(fam.VM_NET_RX_RATE, **web, interface=nic) == 500
    assert out.value(fam.VM_NET_TX_RATE, **web, interface=nic) == 1500
    # A counter that went backwards (the VM restarted) gives no rate, the counter stays.
    reset = later(first, 2.0, block_0_rd_bytes=-1)
    out = snapshot_samples("kvm", reset, first)
    assert out.value(fam.VM_DISK_READ_RATE, **web, disk=disk) is None
    assert out.value(fam.VM_DISK_READ_BYTES, **web, disk=disk) is not None
    # More CPU than the vCPUs can give (clock skew between reads) is capped at 1.
    busy = later(first, 1.0, cpu_time=1.5e9)
    assert snapshot_samples("kvm", busy, first).value(fam.VM_CPU_USAGE_RATIO, **web) == 1
