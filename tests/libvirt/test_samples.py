"""The pure translation from libvirt snapshots to samples, on data recorded from real QEMU."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from exporter import families as fam
from exporter.collectors.libvirt import Snapshot, is_local_uri, snapshot_samples

DATA = Path(__file__).parent / "data" / "qemu-snapshots.json"


@pytest.fixture
def recorded() -> tuple[Snapshot, Snapshot]:
    first, second = (Snapshot.from_dict(d) for d in json.loads(DATA.read_text()))
    return first, second


def bump(snapshot: Snapshot, vm: str, seconds: float, **increments: float) -> Snapshot:
    """`snapshot` taken `seconds` later, with the VM's stats counters grown by `increments`
    (keys as libvirt names them, dots written as underscores: block_0_rd_times=...)."""
    later = copy.deepcopy(snapshot)
    later.taken_at += seconds
    dom = next(d for d in later.domains if d.name == vm)
    for key, amount in increments.items():
        name = key.replace("_", ".")
        dom.stats[name] = dom.stats.get(name, 0) + amount
    return later


def test_recorded_snapshot_gives_states_autostart_and_host(
    recorded: tuple[Snapshot, Snapshot],
) -> None:
    first, _ = recorded
    out = snapshot_samples("kvm", first, None)
    vm = {"target": "kvm", "host": "vm"}
    assert out.value(fam.VM_POWER_STATE.family, **vm, vm="web01", state="running") == 1
    assert out.value(fam.VM_POWER_STATE.family, **vm, vm="db01", state="stopped") == 1
    assert out.value(fam.VM_AUTOSTART_ENABLED, **vm, vm="db01") == 1
    assert out.value(fam.VM_GUEST_TOOLS_RUNNING, **vm, vm="web01") == 0
    assert out.value(fam.VM_GUEST_TOOLS_RUNNING, **vm, vm="db01") is None  # not running
    assert out.value(fam.HOST_BOOT_TIMESTAMP, **vm) == first.boot_time
    mem = first.memory_kib
    assert mem is not None
    expected = 1 - (mem["free"] + mem["buffers"] + mem["cached"]) / mem["total"]
    assert out.value(fam.HOST_MEMORY_USAGE_RATIO, **vm) == pytest.approx(expected)
    # No window yet on the first snapshot.
    assert fam.VM_DISK_QUEUE_LENGTH not in out.series
    assert fam.HOST_CPU_IDLE_RATIO not in out.series


def test_disk_queue_is_busy_time_over_wall_time(recorded: tuple[Snapshot, Snapshot]) -> None:
    first, _ = recorded
    # 2 s of wall time in which requests spent 5 s in flight in total: 2.5 outstanding.
    later = bump(
        first, "web01", 2.0, block_0_rd_times=3e9, block_0_wr_times=1.5e9, block_0_fl_times=0.5e9
    )
    out = snapshot_samples("kvm", later, first)
    queue = out.value(fam.VM_DISK_QUEUE_LENGTH, target="kvm", host="vm", vm="web01", disk="vda")
    assert queue == pytest.approx(2.5)


def test_packet_loss_ratio_counts_both_directions(recorded: tuple[Snapshot, Snapshot]) -> None:
    first, _ = recorded
    later = bump(first, "web01", 1.0, net_0_rx_pkts=600, net_0_tx_pkts=399, net_0_rx_drop=1)
    out = snapshot_samples("kvm", later, first)
    iface = next(d for d in first.domains if d.name == "web01").stats["net.0.name"]
    labels = {"target": "kvm", "host": "vm", "vm": "web01", "interface": iface}
    assert out.value(fam.VM_PACKET_LOSS_RATIO, **labels) == pytest.approx(1 / 1000)
    assert out.value(fam.VM_NET_RX_DROPS, **labels) == 1


def test_counters_that_went_backwards_give_no_window(recorded: tuple[Snapshot, Snapshot]) -> None:
    first, _ = recorded
    grown = bump(first, "web01", 1.0, block_0_rd_times=1e9, net_0_rx_pkts=10)
    restarted = copy.deepcopy(first)  # the VM restarted: counters back to the recording's
    restarted.taken_at = grown.taken_at + 1
    out = snapshot_samples("kvm", restarted, grown)
    assert fam.VM_DISK_QUEUE_LENGTH not in out.series
    assert fam.VM_PACKET_LOSS_RATIO not in out.series


def test_cpu_idle_ratio_over_the_window(recorded: tuple[Snapshot, Snapshot]) -> None:
    first, second = recorded
    out = snapshot_samples("kvm", second, first)
    assert first.cpu_times and second.cpu_times
    deltas = {k: second.cpu_times[k] - first.cpu_times[k] for k in first.cpu_times}
    expected = deltas["idle"] / sum(deltas.values())
    assert out.value(fam.HOST_CPU_IDLE_RATIO, target="kvm", host="vm") == pytest.approx(expected)


@pytest.mark.parametrize(
    ("uri", "local"),
    [
        ("qemu:///system", True),
        ("qemu:///session", True),
        ("qemu+ssh://kvm01/system", False),
        ("qemu+tcp://127.0.0.1/system", False),
        ("test:///default", False),
        ("qemu+unix:///system", True),
    ],
)
def test_only_local_connections_read_this_machine_as_the_host(uri: str, local: bool) -> None:
    assert is_local_uri(uri) is local
