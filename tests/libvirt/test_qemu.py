"""The libvirt collector against a real libvirtd with QEMU (TCG) and a simulated host boot."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import libvirt

from exporter import families as fam
from harness import exposition
from harness.exporter import Exporter
from harness.libvirtd import Libvirtd
from harness.process import wait_until

RUNNING, SHUTOFF = 1, 5


def test_host_boot_starts_good_autostart_vm_and_reports_the_broken_one(
    libvirtd: Libvirtd, tmp_path: Path
) -> None:
    libvirtd.define_domain("hx-good", autostart=True)
    broken_disk = libvirtd.define_domain("hx-broken", autostart=True)
    libvirtd.define_domain("hx-manual")  # no autostart: must stay off without complaint
    broken_disk.unlink()  # its storage is gone: autostart will fail at boot

    boot_started = time.time()
    libvirtd.host_boot()
    assert libvirtd.domain_state("hx-good") == RUNNING
    assert libvirtd.domain_state("hx-broken") == SHUTOFF

    exporter = Exporter(
        {"targets": [{"name": "kvm", "kind": "libvirt", "uri": libvirtd.uri}]}, tmp_path
    )
    try:
        first = exporter.metrics()
        assert exposition.value(first, "hypervisor_target_up", target="kvm") == 1
        on = {"target": "kvm", "state": "running"}
        assert exposition.value(first, "hypervisor_vm_power_state", vm="hx-good", **on) == 1
        assert exposition.value(first, "hypervisor_vm_autostart_enabled", vm="hx-good") == 1
        assert (
            exposition.value(
                first, "hypervisor_vm_power_state", vm="hx-broken", target="kvm", state="stopped"
            )
            == 1
        )
        assert exposition.value(first, "hypervisor_vm_autostart_enabled", vm="hx-broken") == 1
        assert exposition.value(first, "hypervisor_vm_autostart_enabled", vm="hx-manual") == 0
        # libvirt's own reasons: the start that failed, the one that booted, the manual VM
        # that nobody started.
        reasons = {
            vm: [
                labels["reason"]
                for labels, value in exposition.parse(first)["hypervisor_vm_power_state_reason"]
                if labels["vm"] == vm and value == 1
            ]
            for vm in ("hx-good", "hx-broken", "hx-manual")
        }
        assert reasons == {"hx-good": ["booted"], "hx-broken": ["failed"], "hx-manual": ["unknown"]}
        # The exporter started after the boot, yet knows when the start failed: libvirt
        # wrote it to QEMU's log for that domain, readable here (the exporter runs as root).
        failed_at = exposition.value(
            first, "hypervisor_vm_start_failure_timestamp_seconds", vm="hx-broken"
        )
        assert boot_started <= failed_at <= time.time()
        info = exposition.parse(first)["hypervisor_vm_start_failure_info"]
        assert [labels["reason"] for labels, _ in info if labels["vm"] == "hx-broken"] == [
            "shut off (failed)"
        ]
        for vm in ("hx-good", "hx-manual"):
            assert not exposition.values(first, "hypervisor_vm_start_failure_info", vm=vm)
        # A local connection knows the host's boot time; node stats give memory use.
        boot = exposition.value(first, "hypervisor_host_boot_timestamp_seconds", target="kvm")
        assert 0 < boot < time.time()
        memory = exposition.value(first, "hypervisor_host_memory_usage_ratio", target="kvm")
        assert 0 < memory < 1
        # Window families need two collections: absent on the first, as HELP says.
        assert not exposition.values(first, "hypervisor_vm_disk_queue_length")
        assert not exposition.values(first, "hypervisor_host_cpu_idle_ratio")

        time.sleep(1)
        second = exporter.metrics()
        queue = exposition.values(
            second, "hypervisor_vm_disk_queue_length", vm="hx-good", disk="vda"
        )
        assert len(queue) == 1 and 0 <= queue[0] < 50
        loss = exposition.values(second, "hypervisor_vm_network_packet_loss_ratio", vm="hx-good")
        assert len(loss) == 1 and 0 <= loss[0] <= 1
        rx = exposition.values(second, "hypervisor_vm_network_receive_packets_total", vm="hx-good")
        assert len(rx) == 1 and rx[0] >= 0
        # A local connection also reads this machine's own disks and NICs.
        host_queues = exposition.values(second, "hypervisor_host_disk_queue_length", target="kvm")
        assert host_queues and all(q >= 0 for q in host_queues)
        host_loss = exposition.values(
            second, "hypervisor_host_network_packet_loss_ratio", target="kvm"
        )
        assert host_loss and all(0 <= r <= 1 for r in host_loss)
        idle = exposition.value(second, "hypervisor_host_cpu_idle_ratio", target="kvm")
        assert 0 <= idle <= 1
        # The VM has a guest agent channel but no agent in its (empty) guest.
        assert exposition.value(second, "hypervisor_vm_guest_tools_running", vm="hx-good") == 0
        # Every family passes Prometheus' own lint.
        assert exposition.promtool_lint(second) == ""
        # A stopped VM has no block or interface stats to report.
        assert not exposition.values(second, "hypervisor_vm_disk_queue_length", vm="hx-broken")

        # Starting the VM by hand shows up on the next scrape.
        conn = libvirtd.connect()
        try:
            dom = conn.lookupByName("hx-manual")
            dom.create()
            assert (
                exposition.value(
                    exporter.metrics(),
                    "hypervisor_vm_power_state",
                    vm="hx-manual",
                    target="kvm",
                    state="running",
                )
                == 1
            )
            dom.destroy()
        finally:
            conn.close()
    finally:
        exporter.stop()


def test_exporter_connection_is_read_only(libvirtd: Libvirtd) -> None:
    from exporter.collectors.libvirt import open_connection

    conn = open_connection(libvirtd.uri)
    try:
        assert conn.isAlive()
        libvirtd.define_domain("hx-readonly")
        dom = conn.lookupByName("hx-readonly")
        try:
            dom.setAutostart(1)
            raise AssertionError("a read-only connection must not change autostart")
        except libvirt.libvirtError as err:
            assert "read only" in str(err).lower() or "read-only" in str(err).lower()
    finally:
        conn.close()


def test_one_hung_vm_does_not_block_its_host(libvirtd: Libvirtd, tmp_path: Path) -> None:
    libvirtd.define_domain("hx-fine", start=True)
    libvirtd.define_domain("hx-frozen", start=True)
    qemu = int(Path("/run/libvirt/qemu/hx-frozen.pid").read_text())
    exporter = Exporter(
        {"targets": [{"name": "kvm", "kind": "libvirt", "uri": libvirtd.uri, "timeout": 3}]},
        tmp_path,
    )
    try:
        # Let both VMs settle past libvirt's start-up handling (a QEMU frozen in its first
        # second can leave libvirtd itself holding the domain), then take a first window.
        time.sleep(2)
        exporter.metrics()
        os.kill(qemu, signal.SIGSTOP)  # its monitor stops answering: a hung VM
        # The collection that meets the hung monitor first is cut at the timeout...
        first = exporter.metrics()
        assert exposition.value(first, "hypervisor_target_up", target="kvm") == 0
        # ...but the next ones skip that VM's busy monitor and serve the rest of the host.
        second = exporter.metrics()
        assert exposition.value(second, "hypervisor_target_up", target="kvm") == 1
        fine = {"target": "kvm", "vm": "hx-fine"}
        assert exposition.value(second, "hypervisor_vm_power_state", **fine, state="running") == 1
        assert exposition.values(second, "hypervisor_vm_network_receive_packets_total", **fine)
        frozen = {"target": "kvm", "vm": "hx-frozen"}
        assert exposition.value(second, "hypervisor_vm_autostart_enabled", **frozen) == 0
        assert not exposition.values(second, "hypervisor_vm_disk_queue_length", **frozen)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(qemu, signal.SIGCONT)
        exporter.stop()


async def test_a_crash_is_recorded_from_the_lifecycle_event(libvirtd: Libvirtd) -> None:
    """Without QEMU's log (a remote connection, or no right to read it) the crash's time
    comes from the lifecycle event the connection delivers."""
    from exporter.blocking import WorkerPool
    from exporter.collectors.libvirt import LibvirtCollector, LibvirtTarget

    libvirtd.define_domain("hx-crashy", start=True)
    collector = LibvirtCollector(
        LibvirtTarget(name="kvm", uri=libvirtd.uri), WorkerPool().lane("kvm")
    )
    collector.qemu_logs = None  # as on a connection whose logs the exporter cannot read
    try:
        before = await collector.collect()
        host = collector.connection.current
        assert host is not None, "connected after a collection"
        labels = {"target": "kvm", "host": host.hostname, "vm": "hx-crashy"}
        assert before.value(fam.VM_POWER_STATE_REASON, **labels, reason="booted") == 1
        killed_at = time.time()
        os.kill(int(Path("/run/libvirt/qemu/hx-crashy.pid").read_text()), signal.SIGKILL)
        wait_until(lambda: libvirtd.domain_state("hx-crashy") == SHUTOFF, 10, "QEMU gone")
        after = await collector.collect()
        assert after.value(fam.VM_POWER_STATE_REASON, **labels, reason="crashed") == 1
        crashed_at = after.value(fam.VM_START_FAILURE_TIMESTAMP, **labels)
        assert crashed_at is not None and killed_at <= crashed_at <= time.time()
        assert after.value(fam.VM_START_FAILURE_INFO, **labels, reason="shut off (crashed)") == 1
    finally:
        await collector.close()
