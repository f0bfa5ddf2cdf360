"""The libvirt collector against libvirt's own test driver (no daemon needed)."""

from __future__ import annotations

from pathlib import Path

import libvirt
import pytest

from exporter import families as fam
from exporter.blocking import WorkerPool
from exporter.collectors.libvirt import LibvirtCollector, LibvirtTarget
from exporter.metrics import SampleSet
from harness import exposition
from harness.exporter import Exporter
from harness.process import free_port
from tests.libvirt.conftest import DOMAINS, EXPECTED_POWER


def power_state(samples: SampleSet | object, vm: str) -> str:
    assert isinstance(samples, SampleSet)
    on = [
        labels[-1]
        for labels, value in samples.series[fam.VM_POWER_STATE.family].items()
        if labels[2] == vm and value == 1
    ]
    assert len(on) == 1, f"{vm}: exactly one state must be 1, got {on}"
    return on[0]


async def test_every_libvirt_state_maps_to_one_power_state(node_uri: str) -> None:
    # The test driver keeps state per connection: the test opens it, sets autostart through
    # the API, and hands the same connection to the collector.
    conn = libvirt.open(node_uri)
    conn.lookupByName("vm-shutoff").setAutostart(1)
    conn.lookupByName("vm-running").setAutostart(1)
    collector = LibvirtCollector(
        LibvirtTarget(name="lab", uri=node_uri), WorkerPool().lane("lab"), connect=lambda _: conn
    )
    samples = await collector.collect()

    for vm, expected in EXPECTED_POWER.items():
        assert power_state(samples, vm) == expected, vm
    autostart = {
        labels[2]: value for labels, value in samples.series[fam.VM_AUTOSTART_ENABLED].items()
    }
    assert autostart == {vm: (1 if vm in {"vm-shutoff", "vm-running"} else 0) for vm in DOMAINS}
    host = samples.value(
        fam.HOST_INFO,
        target="lab",
        host=conn.getHostname(),
        platform="libvirt",
        cluster="",
        version="TEST 0.0.2",
    )
    assert host == 1


async def test_power_change_between_collections(node_uri: str) -> None:
    conn = libvirt.open(node_uri)
    collector = LibvirtCollector(
        LibvirtTarget(name="lab", uri=node_uri), WorkerPool().lane("lab"), connect=lambda _: conn
    )
    assert power_state(await collector.collect(), "vm-running") == "running"
    conn.lookupByName("vm-running").destroy()
    assert power_state(await collector.collect(), "vm-running") == "stopped"
    conn.lookupByName("vm-running").create()
    assert power_state(await collector.collect(), "vm-running") == "running"


def test_exporter_serves_the_test_driver_and_isolates_an_unreachable_uri(
    node_uri: str, tmp_path: Path
) -> None:
    gone_uri = f"qemu+tcp://127.0.0.1:{free_port()}/system"
    config = {
        "targets": [
            {"name": "lab", "kind": "libvirt", "uri": node_uri},
            # Nothing listens there: this target fails, the other must still be served.
            {
                "name": "gone",
                "kind": "libvirt",
                "uri": gone_uri,
                "timeout": 5,
            },
        ]
    }
    exporter = Exporter(config, tmp_path)
    try:
        text = exporter.metrics()
        assert exposition.value(text, "hypervisor_target_up", target="lab") == 1
        assert exposition.value(text, "hypervisor_target_up", target="gone") == 0
        assert (
            exposition.value(text, "hypervisor_target_collection_errors_total", target="gone") == 1
        )
        for vm, expected in EXPECTED_POWER.items():
            assert (
                exposition.value(
                    text, "hypervisor_vm_power_state", target="lab", vm=vm, state=expected
                )
                == 1
            )
        # The reason is logged for on-call, naming the target.
        assert "target=gone" in exporter.log_tail(50)
        assert f'reason="libvirt {gone_uri}: ' in exporter.log_tail(50)

        # /probe serves one target only.
        probe = exporter.metrics("/probe?target=lab")
        assert exposition.values(probe, "hypervisor_target_up") == [1]
        assert not exposition.values(probe, "hypervisor_vm_info", target="gone")
        assert "process_cpu_seconds_total" not in probe
        status, body = exporter.get("/probe?target=nope")
        assert status == 404
        assert "unknown target 'nope'" in body and "gone, lab" in body
        status, body = exporter.get("/probe")
        assert status == 400 and "target=NAME" in body

        status, page = exporter.get("/")
        assert status == 200 and "lab" in page and "gone" in page and "down:" in page
        assert exporter.get("/-/healthy")[0] == 200
        assert exporter.get("/-/ready")[0] == 200
    finally:
        exporter.stop()


def test_embedded_default_serves_real_metrics(tmp_path: Path) -> None:
    exporter = Exporter(None, tmp_path)
    try:
        text = exporter.metrics()
        assert exposition.value(text, "hypervisor_target_up", target="demo", kind="libvirt") == 1
        assert (
            exposition.value(
                text, "hypervisor_vm_power_state", target="demo", vm="test", state="running"
            )
            == 1
        )
        assert (
            exposition.value(
                text, "hypervisor_datastore_accessible", target="demo", datastore="default-pool"
            )
            == 1
        )
        assert exposition.promtool_lint(text) == ""
        info = exposition.parse(text)["hypervisor_exporter_build_info"]
        assert len(info) == 1 and info[0][0]["version"]
    finally:
        exporter.stop()


@pytest.mark.parametrize("count", [3])
def test_duplicate_samples_never_reach_the_exposition(count: int) -> None:
    out = SampleSet()
    for _ in range(count):
        out.add(fam.VM_AUTOSTART_ENABLED, 1, target="t", host="h", vm="same")
    assert len(out) == 1 and out.duplicates == count - 1
