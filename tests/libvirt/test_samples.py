"""The pure translation from libvirt snapshots to samples, on data recorded from real QEMU."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from exporter import families as fam
from exporter.collectors.libvirt import Snapshot, is_local_uri, snapshot_samples
from exporter.collectors.procfs import read_disk_queue_ms, read_nic_counters

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


def test_host_disks_and_nics_from_proc_files(tmp_path: Path) -> None:
    sys_block = tmp_path / "block"
    for disk in ("vda", "loop0"):
        (sys_block / disk).mkdir(parents=True)
    diskstats = tmp_path / "diskstats"
    diskstats.write_text(
        "   7       0 loop0 5 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
        " 254       0 vda 100 0 800 40 50 0 400 60 0 90 1500 0 0 0 0 0 0\n"
        " 254       1 vda1 90 0 700 30 40 0 300 50 0 80 1200 0 0 0 0 0 0\n"
    )
    assert read_disk_queue_ms(str(diskstats), str(sys_block)) == {"vda": 1500}
    net_dev = tmp_path / "dev"
    net_dev.write_text(
        "Inter-|   Receive |  Transmit\n face |bytes packets ...\n"
        "    lo: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n"
        "  eth0: 9000 100 0 2 0 0 0 0 4000 50 0 1 0 0 0 0\n"
    )
    assert read_nic_counters(str(net_dev)) == {
        "eth0": {"rx.pkts": 100, "rx.drop": 2, "tx.pkts": 50, "tx.drop": 1}
    }


def test_host_disk_queue_and_packet_loss_over_the_window(
    recorded: tuple[Snapshot, Snapshot],
) -> None:
    first, _ = recorded
    first = copy.deepcopy(first)
    first.host_disk_queue_ms = {"vda": 1000}
    first.host_nic_counters = {"eth0": {"rx.pkts": 0, "tx.pkts": 0, "rx.drop": 0, "tx.drop": 0}}
    later = copy.deepcopy(first)
    later.taken_at += 4
    later.host_disk_queue_ms = {"vda": 1000 + 240_000}  # 240 s in queue over 4 s: 60 waiting
    later.host_nic_counters = {"eth0": {"rx.pkts": 990, "tx.pkts": 0, "rx.drop": 10, "tx.drop": 0}}
    out = snapshot_samples("kvm", later, first)
    host = {"target": "kvm", "host": "vm"}
    assert out.value(fam.HOST_DISK_QUEUE_LENGTH, **host, device="vda") == pytest.approx(60)
    assert out.value(fam.HOST_PACKET_LOSS_RATIO, **host, interface="eth0") == pytest.approx(0.01)
