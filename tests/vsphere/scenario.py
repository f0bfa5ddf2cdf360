"""Changes to the simulated vCenter made the way an administrator makes them (pyvmomi
against the SOAP API), shared by the recorder of tests/vsphere/data and the live tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.vcsim import Vcsim

CPU_IDLE_MS = 8000  # of 20 s x 2 logical CPUs (the simulator's hosts have 2 threads): 0.2


def _wait(task: Any) -> None:
    from pyVim.task import WaitForTask

    WaitForTask(task)


def vm_ids(sim: Vcsim) -> dict[str, str]:
    return {vm["Name"]: vm["Moid"] for vm in sim.inventory()["vms"]}


def host_ids(sim: Vcsim) -> dict[str, str]:
    return {h["Name"]: h["Moid"] for h in sim.inventory()["hosts"]}


def reconfigure_autostart(
    si: Any,
    host_moid: str,
    *,
    enabled: bool | None = None,
    start_delay: int | None = None,
    power_info: Sequence[tuple[str, str, int, int]] = (),
) -> None:
    """power_info: (VM moid, startAction, startOrder, startDelay)."""
    from pyVmomi import vim

    auto = vim.host.AutoStartManager
    defaults = None
    if enabled is not None or start_delay is not None:
        defaults = auto.SystemDefaults(enabled=enabled, startDelay=start_delay)
    spec = auto.Config(
        defaults=defaults,
        powerInfo=[
            auto.AutoPowerInfo(
                key=vim.VirtualMachine(moid, si._stub),
                startAction=action,
                startOrder=order,
                startDelay=delay,
                stopAction="systemDefault",
                stopDelay=-1,
                waitForHeartbeat="systemDefault",
            )
            for moid, action, order, delay in power_info
        ],
    )
    host = vim.HostSystem(host_moid, si._stub)
    manager = host.configManager.autoStartManager
    assert manager is not None, f"{host_moid} has no autostart manager"
    manager.ReconfigureAutostart(spec)


def power(si: Any, vm_moid: str, on: bool) -> None:
    from pyVmomi import vim

    vm = vim.VirtualMachine(vm_moid, si._stub)
    _wait(vm.PowerOnVM_Task() if on else vm.PowerOffVM_Task())


def autostart_matrix(sim: Vcsim) -> dict[str, dict[str, float | None]]:
    """On standalone hosts DC0_H0 (defaults enabled, delay 30) and DC0_H1 (defaults
    disabled): powerOn, systemDefault, none and absent VMs with explicit and -1 orders and
    delays, and an autostart VM that is powered off. Returns what each VM must show:
    {vm: {"enabled", "order", "delay", "running"}} (None: no series)."""
    vms = vm_ids(sim)
    hosts = host_ids(sim)
    si = sim.connect()
    reconfigure_autostart(
        si,
        hosts["DC0_H0"],
        enabled=True,
        start_delay=30,
        power_info=[
            (vms["DC0_H0_VM0"], "powerOn", 1, 10),
            (vms["DC0_H0_VM1"], "systemDefault", -1, -1),
            (vms["DC0_H0_VM2"], "none", 2, 5),
            (vms["DC0_H0_VM4"], "powerOn", 3, -1),
        ],
    )
    reconfigure_autostart(
        si,
        hosts["DC0_H1"],
        power_info=[
            (vms["DC0_H1_VM0"], "powerOn", 1, 10),
            (vms["DC0_H1_VM1"], "systemDefault", -1, -1),
        ],
    )
    power(si, vms["DC0_H0_VM4"], on=False)
    return {
        # enabled host: powerOn and systemDefault take part, none and absent do not
        "DC0_H0_VM0": {"enabled": 1, "order": 1, "delay": 10, "running": 1},
        "DC0_H0_VM1": {"enabled": 1, "order": 4, "delay": 30, "running": 1},  # any order: after 3
        "DC0_H0_VM2": {"enabled": 0, "order": 2, "delay": 5, "running": 1},
        "DC0_H0_VM3": {"enabled": 0, "order": None, "delay": None, "running": 1},
        "DC0_H0_VM4": {"enabled": 1, "order": 3, "delay": 30, "running": 0},  # powered off
        # host defaults disabled: nobody starts, configured orders and delays still shown
        "DC0_H1_VM0": {"enabled": 0, "order": 1, "delay": 10, "running": 1},
        "DC0_H1_VM1": {"enabled": 0, "order": 2, "delay": 120, "running": 1},
        "DC0_H1_VM2": {"enabled": 0, "order": None, "delay": None, "running": 1},
    }


def inject_load(sim: Vcsim) -> dict[str, float]:
    """Perf samples with known results on DC0_H0 and its VM DC0_H0_VM0."""
    sim.inject_perf("DC0_H0", "cpu.idle.summation", "", CPU_IDLE_MS)
    # vmnic0: 10 dropped of 1000 packets seen
    sim.inject_perf("DC0_H0", "net.packetsRx.summation", "vmnic0", 900)
    sim.inject_perf("DC0_H0", "net.packetsTx.summation", "vmnic0", 90)
    sim.inject_perf("DC0_H0", "net.droppedRx.summation", "vmnic0", 8)
    sim.inject_perf("DC0_H0", "net.droppedTx.summation", "vmnic0", 2)
    # naa.1: 1200 commands in 20 s (60/s) at 1000 ms each: 60 outstanding on average
    sim.inject_perf("DC0_H0", "disk.commands.summation", "naa.1", 1200)
    sim.inject_perf("DC0_H0", "disk.totalLatency.average", "naa.1", 1000)
    # VM: 30 + 25 outstanding I/Os; vNIC 4000 drops 1 of 200
    sim.inject_perf("DC0_H0_VM0", "virtualDisk.readOIO.latest", "scsi0:0", 30)
    sim.inject_perf("DC0_H0_VM0", "virtualDisk.writeOIO.latest", "scsi0:0", 25)
    sim.inject_perf("DC0_H0_VM0", "net.packetsRx.summation", "4000", 150)
    sim.inject_perf("DC0_H0_VM0", "net.packetsTx.summation", "4000", 49)
    sim.inject_perf("DC0_H0_VM0", "net.droppedRx.summation", "4000", 1)
    # Capacity: 25.00 % CPU, 512 MiB consumed, disk 1024/512 KiB/s, vNIC 100/50 KiB/s
    sim.inject_perf("DC0_H0_VM0", "cpu.usage.average", "", 2500)
    sim.inject_perf("DC0_H0_VM0", "mem.consumed.average", "", 524288)
    sim.inject_perf("DC0_H0_VM0", "virtualDisk.read.average", "scsi0:0", 1024)
    sim.inject_perf("DC0_H0_VM0", "virtualDisk.write.average", "scsi0:0", 512)
    sim.inject_perf("DC0_H0_VM0", "net.bytesRx.average", "4000", 100)
    sim.inject_perf("DC0_H0_VM0", "net.bytesTx.average", "4000", 50)
    return {
        "vm_cpu_usage": 0.25,
        "vm_memory_used": 512 * 1024**2,
        "vm_disk_read": 1024 * 1024,
        "vm_disk_write": 512 * 1024,
        "vm_rx": 100 * 1024,
        "vm_tx": 50 * 1024,
        "cpu_idle": 0.2,
        "host_loss": 0.01,
        "host_queue": 60.0,
        "vm_queue": 55.0,
        "vm_loss": 0.005,
    }


def duplicate_name(sim: Vcsim, vm: str, as_name: str, folder: str = "duplicates") -> None:
    """Moves `vm` into a new VM folder and renames it `as_name`: vCenter only keeps
    names unique per folder, so two VMs on one host can share a name."""
    from pyVmomi import vim

    si = sim.connect()
    content = si.RetrieveContent()
    datacenter = content.rootFolder.childEntity[0]
    target = datacenter.vmFolder.CreateFolder(folder)
    machine = vim.VirtualMachine(vm_ids(sim)[vm], si._stub)
    _wait(target.MoveIntoFolder_Task([machine]))
    _wait(machine.Rename_Task(as_name))
