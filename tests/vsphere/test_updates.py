"""The inventory kept through the PropertyCollector's update protocol equals a full read,
after many random changes to the simulated vCenter, through truncated update sets and lost
filters; and a change shows in the next scrape of the real exporter."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from typing import Any

import pytest

from exporter.blocking import Lane
from exporter.collectors.vsphere.collector import VsphereCollector
from exporter.collectors.vsphere.inventory import Inventory
from exporter.collectors.vsphere.samples import Snapshot, snapshot_samples
from exporter.collectors.vsphere.session import Session, retrieve_objects
from exporter.config import parse_config
from exporter.metrics import render
from harness import exposition
from harness.exporter import Exporter
from harness.vcsim import Vcsim
from tests.vsphere import scenario


def session_for(sim: Vcsim) -> Session:
    config = parse_config(json.dumps({"targets": [sim.target("vc")]}), "test")
    return Session(config.targets[0])  # type: ignore[arg-type]


def exposition_of(objects: dict[str, Any]) -> str:
    return render([snapshot_samples("vc", Snapshot(objects))])


class Admin:
    """Random changes made the way an administrator (or vCenter itself) makes them."""

    def __init__(self, sim: Vcsim, rng: random.Random) -> None:
        from pyVmomi import vim

        self.sim, self.rng, self.vim = sim, rng, vim
        self.si = sim.connect()
        self.created = 0
        self.done: list[str] = []

    def _vm(self, moid: str) -> Any:
        return self.vim.VirtualMachine(moid, self.si._stub)

    def _host(self, moid: str) -> Any:
        return self.vim.HostSystem(moid, self.si._stub)

    def change(self) -> None:
        inventory = self.sim.inventory()
        vms, hosts = inventory["vms"], inventory["hosts"]
        connected = [h for h in hosts if h["ConnectionState"] == "connected"]
        kinds: list[Callable[[], None]] = [
            lambda: self.power(vms, "poweredOn", "off"),
            lambda: self.power(vms, "poweredOff", "on"),
            lambda: self.power(vms, "poweredOn", "suspend"),
            lambda: self.host_state(hosts),
            lambda: self.host_detail(hosts),
            lambda: self.tools(vms),
            lambda: self.rename(vms),
            lambda: self.create(connected),
            lambda: self.destroy(vms),
            lambda: self.migrate(vms, connected),
            lambda: self.autostart(vms, hosts),
        ]
        self.rng.choice(kinds)()

    def power(self, vms: list[dict[str, str]], state: str, action: str) -> None:
        candidates = [v for v in vms if v["PowerState"] == state]
        if not candidates:
            return
        vm = self._vm(self.rng.choice(candidates)["Moid"])
        task = {
            "off": vm.PowerOffVM_Task,
            "on": vm.PowerOnVM_Task,
            "suspend": vm.SuspendVM_Task,
        }[action]
        scenario._wait(task())
        self.done.append(f"power {action}")

    def host_state(self, hosts: list[dict[str, str]]) -> None:
        host = self.rng.choice(hosts)["Name"]
        state = self.rng.choice(["connected", "connected", "disconnected", "notResponding"])
        self.sim.set_host(host, connection_state=state)
        self.done.append(f"host {state}")

    def host_detail(self, hosts: list[dict[str, str]]) -> None:
        host = self.rng.choice(hosts)["Name"]
        if self.rng.random() < 0.5:
            self.sim.set_host(host, maintenance=self.rng.random() < 0.5)
            self.done.append("maintenance")
        else:
            self.sim.set_host(host, boot_time=1_700_000_000 + self.rng.randrange(10**6))
            self.done.append("host boot time")

    def tools(self, vms: list[dict[str, str]]) -> None:
        self.sim.set_vm(self.rng.choice(vms)["Moid"], tools_running=self.rng.random() < 0.5)
        self.done.append("tools")

    def rename(self, vms: list[dict[str, str]]) -> None:
        # sometimes to another VM's name: duplicate names get the moid in their label
        name = (
            self.rng.choice(vms)["Name"] if self.rng.random() < 0.5 else f"renamed-{len(self.done)}"
        )
        self.sim.set_vm(self.rng.choice(vms)["Moid"], rename_unchecked=name)
        self.done.append("rename")

    def create(self, hosts: list[dict[str, str]]) -> None:
        if not hosts:
            return
        vim = self.vim
        host = self._host(self.rng.choice(hosts)["Moid"])
        datacenter = self.si.content.rootFolder.childEntity[0]
        self.created += 1
        spec = vim.vm.ConfigSpec(
            name=f"new-{self.created}",
            guestId="otherGuest",
            files=vim.vm.FileInfo(vmPathName=f"[{host.datastore[0].name}]"),
            numCPUs=1,
            memoryMB=64,
        )
        task = datacenter.vmFolder.CreateVM_Task(
            config=spec, pool=host.parent.resourcePool, host=host
        )
        scenario._wait(task)
        if self.rng.random() < 0.7:
            scenario._wait(task.info.result.PowerOnVM_Task())
        self.done.append("create")

    def destroy(self, vms: list[dict[str, str]]) -> None:
        vm = self._vm(self.rng.choice(vms)["Moid"])
        if vm.runtime.powerState != "poweredOff":
            scenario._wait(vm.PowerOffVM_Task())
        scenario._wait(vm.Destroy_Task())
        self.done.append("destroy")

    def migrate(self, vms: list[dict[str, str]], hosts: list[dict[str, str]]) -> None:
        vm = self.rng.choice(vms)
        others = [h for h in hosts if h["Moid"] != vm["Host"]]
        if not others:
            return
        spec = self.vim.vm.RelocateSpec(host=self._host(self.rng.choice(others)["Moid"]))
        scenario._wait(self._vm(vm["Moid"]).RelocateVM_Task(spec))
        self.done.append("migrate")

    def autostart(self, vms: list[dict[str, str]], hosts: list[dict[str, str]]) -> None:
        host = self.rng.choice(hosts)
        mine = [v for v in vms if v["Host"] == host["Moid"]]
        if not mine:
            return
        vm = self.rng.choice(mine)
        action = self.rng.choice(["powerOn", "systemDefault", "none"])
        scenario.reconfigure_autostart(
            self.si,
            host["Moid"],
            enabled=self.rng.random() < 0.7,
            start_delay=self.rng.randrange(1, 300),
            power_info=[
                (vm["Moid"], action, self.rng.randrange(-1, 5), self.rng.randrange(-1, 60))
            ],
        )
        self.done.append("autostart")


def test_kept_inventory_equals_a_full_read_after_random_changes(
    start_vcsim: Callable[..., Vcsim],
) -> None:
    sim = start_vcsim(clusters=2, hosts=3, standalone=1, vms=8)
    session, inventory = session_for(sim), Inventory()
    assert inventory.read(session) == retrieve_objects(session)
    admin = Admin(sim, random.Random(15))
    for round_ in range(10):
        # every third round, update sets of at most 3 objects: truncated, followed
        sim.updates(max_object_updates=3 if round_ % 3 == 1 else 0)
        for _ in range(8):
            admin.change()
        kept = inventory.read(session)
        full = retrieve_objects(session)
        assert kept == full, f"round {round_} after {admin.done[-8:]}"
        assert exposition_of(kept) == exposition_of(full)
    assert inventory.full_reads == 1  # every round after the first was incremental
    # the random walk reached every kind of change, objects entering and leaving included
    assert {"create", "destroy", "migrate", "power off", "host disconnected"} <= set(admin.done)


def test_collector_samples_equal_those_of_a_full_read_after_random_changes(
    start_vcsim: Callable[..., Vcsim],
) -> None:
    """The collector keeps the inventory's samples while vCenter reports no change: after
    changes and without any, its samples are those of a full read with the same perf."""
    sim = start_vcsim(clusters=1, hosts=3, standalone=1, vms=6)
    collector = VsphereCollector(session_for(sim).target, Lane("vc", 2))
    admin = Admin(sim, random.Random(16))

    async def rounds() -> None:
        for round_ in range(8):
            for _ in range(round_ % 3):  # rounds 0, 3, 6 change nothing
                admin.change()
            snap = await collector.read_snapshot()
            full = Snapshot(
                await collector.lane.run(retrieve_objects, collector.session),
                snap.perf,
                snap.start_failures,
            )
            got = render([collector.samples_of(snap)])
            assert got == render([snapshot_samples("vc", full)]), f"round {round_}"
            assert snap.perf, "no perf samples to tell the passes apart"
        await collector.close()

    asyncio.run(rounds())
    # among the changes, those that move a VM's labels and its autostart samples
    assert {"rename", "migrate", "autostart"} <= set(admin.done)


def test_a_truncated_full_read_is_followed_to_the_end(start_vcsim: Callable[..., Vcsim]) -> None:
    sim = start_vcsim(clusters=1, hosts=2, vms=10)
    sim.updates(max_object_updates=4)
    session, inventory = session_for(sim), Inventory()
    assert inventory.read(session) == retrieve_objects(session)
    assert sim.calls()["WaitForUpdatesEx"] > 4


@pytest.mark.parametrize("loss", ["forget_versions", "destroy_collectors"])
def test_a_lost_filter_falls_back_to_one_full_read(
    start_vcsim: Callable[..., Vcsim], caplog: pytest.LogCaptureFixture, loss: str
) -> None:
    sim = start_vcsim(clusters=0, standalone=2, vms=3)
    session, inventory = session_for(sim), Inventory()
    inventory.read(session)
    vms = scenario.vm_ids(sim)
    scenario.power(sim.connect(), vms["DC0_H0_VM0"], on=False)
    sim.updates(**{loss: True})
    with caplog.at_level(logging.WARNING, logger="exporter.collectors.vsphere"):
        kept = inventory.read(session)
    assert kept == retrieve_objects(session)
    assert kept[vms["DC0_H0_VM0"]]["runtime.powerState"] == "poweredOff"
    lost = [r for r in caplog.records if "property filter lost" in r.getMessage()]
    assert len(lost) == 1
    assert inventory.full_reads == 2
    inventory.read(session)  # and incremental again
    assert inventory.full_reads == 2


def test_a_change_shows_in_the_next_scrape(
    vcsim: Vcsim, start_exporter: Callable[..., Exporter]
) -> None:
    exporter = start_exporter([vcsim.target("vc")])

    def power_state(vm: str) -> dict[str, float]:
        text = exporter.metrics()
        return {
            labels["state"]: v
            for labels, v in exposition.parse(text)["hypervisor_vm_power_state"]
            if labels["vm"] == vm
        }

    assert power_state("DC0_H0_VM0")["running"] == 1
    si = vcsim.connect()
    vms, hosts = scenario.vm_ids(vcsim), scenario.host_ids(vcsim)
    # a VM powered off
    scenario.power(si, vms["DC0_H0_VM0"], on=False)
    assert power_state("DC0_H0_VM0")["stopped"] == 1
    # a host disconnected: its state, and its VMs' power state is no longer known
    vcsim.set_host("DC0_H1", connection_state="disconnected")
    text = exporter.metrics()
    assert (
        exposition.value(
            text, "hypervisor_host_connection_state", host="DC0_H1", state="disconnected"
        )
        == 1
    )
    assert power_state("DC0_H1_VM0")["unknown"] == 1
    # a VM added
    from pyVmomi import vim

    host: Any = vim.HostSystem(hosts["DC0_H2"], si._stub)
    spec = vim.vm.ConfigSpec(
        name="added", guestId="otherGuest", files=vim.vm.FileInfo(vmPathName="[LocalDS_0]")
    )
    datacenter = si.content.rootFolder.childEntity[0]
    scenario._wait(
        datacenter.vmFolder.CreateVM_Task(config=spec, pool=host.parent.resourcePool, host=host)
    )
    assert power_state("added")["stopped"] == 1
    # a VM removed
    scenario._wait(vim.VirtualMachine(vms["DC0_H0_VM0"], si._stub).Destroy_Task())
    assert power_state("DC0_H0_VM0") == {}
    assert vcsim.calls()["Login"] == 2  # the exporter's session, and this test's
