"""The lab every dashboard query runs in: the real exporter scraped by a real Prometheus.

Targets of the lab:
- `demo`: libvirt's built-in test driver (`test:///default`, one running VM and a pool);
- `lab`: the test driver on a node file of our own with VMs running, paused and shut off;
- `broken`: a libvirt URI that cannot open, so the "target down" panels have data;
- `iscsi-lab`: an iSCSI sysfs tree in the kernel's layout, once exporter/collectors/iscsi.py
  exists.
- `vc`: the vCenter simulator (harness/vcsim.py) with the vSphere tests' autostart and
  load scenarios, once exporter/collectors/vsphere exists;
- `ceph-lab`: a throwaway Ceph cluster (harness/ceph.py), once
  exporter/collectors/ceph.py exists.
- `openstack-lab`: a throwaway OpenStack (harness/openstack.py) with one running instance.
  The lab is package-scoped so that this cloud stops before tests/openstack starts its own.
Until a collector exists its panels are checked for query success only; from then on for
data too. A collector of a new kind makes `test_every_collector_feeds_the_lab` fail until a
target of that kind is added to `lab_targets` below.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.exporter import Exporter
from harness.process import wait_until
from harness.prometheus import Prometheus
from tests.conftest import starts_peer

NODE_XML = """\
<node>
{domains}
</node>
"""
DOMAIN_XML = """\
  <domain type="test" xmlns:test="http://libvirt.org/schemas/domain/test/1.0">
    <name>{name}</name>
    <memory>1048576</memory>
    <vcpu>1</vcpu>
    <os><type>hvm</type></os>
    <test:runstate>{runstate}</test:runstate>
  </domain>"""
# test driver runstates: 1 running, 3 paused, 5 shut off
LAB_VMS = {"web01": 1, "batch01": 3, "db01": 5}

# What the libvirt test driver gives (the lab must show each, or the data check would be
# weaker than it claims): inventory, state, autostart, pools and the exporter's own families.
# Its CPU counters are constant and it has no memory, block or interface statistics, so the
# host load and VM disk/network families are absent and checked for query success only.
LIBVIRT_TEST_DRIVER_FAMILIES = {
    "hypervisor_vm_info",
    "hypervisor_vm_power_state",
    "hypervisor_vm_autostart_enabled",
    "hypervisor_host_info",
    "hypervisor_host_connection_state",
    "hypervisor_datastore_capacity_bytes",
    "hypervisor_datastore_free_bytes",
    "hypervisor_datastore_accessible",
    "hypervisor_target_up",
    "hypervisor_target_scrape_duration_seconds",
    "hypervisor_target_collection_errors_total",
    "hypervisor_target_last_success_timestamp_seconds",
    "hypervisor_exporter_build_info",
}
# With the vSphere simulator's scenarios (tests/vsphere/scenario.py).
VSPHERE_FAMILIES = {
    "hypervisor_vm_autostart_order",
    "hypervisor_vm_autostart_delay_seconds",
    "hypervisor_vm_boot_timestamp_seconds",
    "hypervisor_host_maintenance_mode",
    "hypervisor_host_cpu_idle_ratio",
    "hypervisor_host_disk_queue_length",
    "hypervisor_host_network_packet_loss_ratio",
    "hypervisor_vm_disk_queue_length",
    "hypervisor_vm_network_packet_loss_ratio",
    "hypervisor_vm_guest_tools_running",
}
# A healthy cluster: no health checks raised, so hypervisor_ceph_health_check is absent.
CEPH_FAMILIES = {
    "hypervisor_ceph_health_status",
    "hypervisor_ceph_osds",
    "hypervisor_ceph_osds_up",
    "hypervisor_ceph_osds_in",
    "hypervisor_ceph_osd_up",
}
OPENSTACK_FAMILIES = {
    "hypervisor_openstack_server_vm_state",
    "hypervisor_openstack_agent_up",
}
ISCSI_FAMILIES = {
    "hypervisor_iscsi_session_up",
    "hypervisor_iscsi_session_info",
    "hypervisor_iscsi_connection_up",
}


def collector_exists(kind: str) -> bool:
    return importlib.util.find_spec(f"exporter.collectors.{kind}") is not None


def write_iscsi_sysfs(root: Path) -> None:
    """Two initiator sessions as the kernel's iscsi transport class lays them out: the
    device tree under devices/platform, the class directories as symlinks into it.
    session1 is logged in, session2 is in recovery (FAILED, its connection down)."""
    sessions = {
        1: ("LOGGED_IN", "up", "iqn.2003-01.org.example:lab.disk1", "192.0.2.10", "3260"),
        2: ("FAILED", "failed", "iqn.2003-01.org.example:lab.disk2", "192.0.2.11", "3260"),
    }
    for number, (state, conn_state, iqn, address, port) in sessions.items():
        host = root / f"devices/platform/host{number + 1}"
        session = host / f"session{number}/iscsi_session/session{number}"
        connection = (
            host / f"session{number}/connection{number}:0/iscsi_connection/connection{number}:0"
        )
        for directory, files in (
            (session, {"state": state, "targetname": iqn, "tpgt": "1", "recovery_tmo": "120"}),
            (
                connection,
                {
                    "state": conn_state,
                    "persistent_address": address,
                    "persistent_port": port,
                    "address": address,
                    "port": port,
                },
            ),
        ):
            directory.mkdir(parents=True)
            for name, value in files.items():
                (directory / name).write_text(value + "\n")
        for cls, target in (("iscsi_session", session), ("iscsi_connection", connection)):
            (root / "class" / cls).mkdir(parents=True, exist_ok=True)
            (root / "class" / cls / target.name).symlink_to(target)


@dataclass
class Lab:
    exporter: Exporter
    prometheus: Prometheus
    kinds: set[str]
    required_families: set[str]

    def present_families(self) -> set[str]:
        answer = self.prometheus.api("label/__name__/values")
        assert answer["status"] == "success", answer
        return {name for name in answer["data"] if name.startswith("hypervisor_")}


@contextlib.contextmanager
def lab_targets(workdir: Path) -> Iterator[tuple[list[dict[str, Any]], set[str], set[str]]]:
    """(config targets, kinds configured, families the lab must give), with the peers of
    the non-libvirt targets running until the context ends."""
    node = workdir / "lab-node.xml"
    node.write_text(
        NODE_XML.format(
            domains="\n".join(DOMAIN_XML.format(name=n, runstate=s) for n, s in LAB_VMS.items())
        )
    )
    targets: list[dict[str, Any]] = [
        {"name": "demo", "kind": "libvirt", "uri": "test:///default"},
        {"name": "lab", "kind": "libvirt", "uri": f"test://{node}"},
        {"name": "broken", "kind": "libvirt", "uri": f"test://{workdir}/missing-node.xml"},
    ]
    kinds = {"libvirt"}
    required = set(LIBVIRT_TEST_DRIVER_FAMILIES)
    with contextlib.ExitStack() as peers:
        if collector_exists("iscsi"):
            sysfs = workdir / "sysfs"
            write_iscsi_sysfs(sysfs)
            targets.append({"name": "iscsi-lab", "kind": "iscsi", "sysfs_root": str(sysfs)})
            kinds.add("iscsi")
            required |= ISCSI_FAMILIES
        if collector_exists("vsphere"):
            # The vSphere branch's simulator and scenarios: an autostart VM powered off on a
            # connected host (so the autostart table has a row), perf samples over the CPU,
            # disk queue and packet loss thresholds, and VMware Tools running and not.
            from harness.vcsim import Vcsim
            from tests.vsphere import scenario

            sim = Vcsim(workdir / "vcsim", clusters=0, standalone=3, vms=6)
            peers.callback(sim.stop)
            scenario.autostart_matrix(sim)
            scenario.inject_load(sim)
            sim.set_vm("DC0_H0_VM0", tools_running=True)
            sim.set_vm("DC0_H0_VM1", tools_running=False)
            targets.append(sim.target("vc"))
            kinds.add("vsphere")
            required |= VSPHERE_FAMILIES
        if collector_exists("ceph"):
            from harness.ceph import CephCluster

            cluster = peers.enter_context(CephCluster(workdir / "ceph").running())
            targets.append({"name": "ceph-lab", "kind": "ceph", "conf": str(cluster.conf)})
            kinds.add("ceph")
            required |= CEPH_FAMILIES
        if collector_exists("openstack"):
            # A throwaway Nova (harness/openstack.py) with one running instance, so the
            # fleet board's platform filter and the VM panels see OpenStack data.
            from harness.openstack import OpenStackCloud

            cloud = peers.enter_context(OpenStackCloud(workdir / "openstack").running())
            cloud.seed()
            cloud.create_server("lab-instance")
            targets.append(cloud.target("openstack-lab"))
            kinds.add("openstack")
            required |= OPENSTACK_FAMILIES
        yield targets, kinds, required


@pytest.fixture(scope="package")
@starts_peer
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    workdir = tmp_path_factory.mktemp("dashboards-lab")
    with lab_targets(workdir) as (targets, kinds, required):
        yield from _run_lab(workdir, targets, kinds, required)


def _run_lab(
    workdir: Path, targets: list[dict[str, Any]], kinds: set[str], required: set[str]
) -> Iterator[Lab]:
    exporter = Exporter({"targets": targets}, workdir)
    try:
        prometheus = Prometheus(workdir, [exporter.url.removeprefix("http://")])
        try:
            lab = Lab(exporter, prometheus, kinds, required)

            def ready() -> bool:
                # Every family the lab must give is stored, and a few seconds of history
                # exist for the range queries and increase() over $__rate_interval.
                if not required <= lab.present_families():
                    return False
                history = prometheus.query(
                    'count_over_time(hypervisor_target_up{target="demo"}[1m])'
                )
                return bool(history) and float(history[0]["value"][1]) >= 6

            try:
                wait_until(ready, 60, "Prometheus holding every lab family")
            except TimeoutError as err:
                missing = required - lab.present_families()
                raise AssertionError(
                    f"the lab never gave {sorted(missing)}; exporter log:\n{exporter.log_tail()}"
                ) from err
            yield lab
        finally:
            prometheus.stop()
    finally:
        exporter.stop()
