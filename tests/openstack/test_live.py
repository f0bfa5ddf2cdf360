"""The exporter against the real throwaway OpenStack: what Nova, Neutron and Glance say
reaches /metrics, as an on-call user would query it."""

from __future__ import annotations

from pathlib import Path

import yaml

from harness import exposition
from harness.exporter import Exporter
from harness.openstack import COMPUTE_HOST, OpenStackCloud
from harness.process import wait_until


def running(text: str, vm: str) -> float:
    return exposition.value(text, "hypervisor_vm_power_state", target="os", vm=vm, state="running")


def test_instances_as_nova_sees_them(openstack_cloud: OpenStackCloud, tmp_path: Path) -> None:
    cloud = openstack_cloud
    app = cloud.create_server("live-app", count=2)
    (stopped,) = cloud.create_server("live-stopped")
    cloud.stop_server(stopped)
    cloud.create_server("live-never", never=True)
    exporter = Exporter({"targets": [cloud.target()]}, tmp_path)
    try:
        text = exporter.metrics()
        assert exposition.value(text, "hypervisor_target_up", target="os", kind="openstack") == 1
        for name in ("live-app-1", "live-app-2"):
            assert running(text, name) == 1
            assert (
                exposition.value(
                    text, "hypervisor_vm_autostart_enabled", target="os", host=COMPUTE_HOST, vm=name
                )
                == 1
            )
            (info,) = [
                labels
                for labels, _ in exposition.parse(text)["hypervisor_vm_info"]
                if labels["vm"] == name
            ]
            assert (info["platform"], info["host"], info["cluster"]) == (
                "openstack",
                COMPUTE_HOST,
                "nova",
            )
            assert info["uuid"] in app
        # Stopped by its user: not running, and Nova no longer expects it to.
        assert running(text, "live-stopped") == 0
        assert exposition.value(text, "hypervisor_vm_autostart_enabled", vm="live-stopped") == 0
        assert (
            exposition.value(
                text, "hypervisor_openstack_server_vm_state", vm="live-stopped", state="stopped"
            )
            == 1
        )
        # Never able to run: no host, vm_state error, not expected to run.
        assert (
            exposition.value(
                text,
                "hypervisor_openstack_server_vm_state",
                vm="live-never",
                host="",
                state="error",
            )
            == 1
        )
        assert exposition.value(text, "hypervisor_vm_autostart_enabled", vm="live-never") == 0
        # The compute host and its Neutron agent.
        host = {"target": "os", "host": COMPUTE_HOST}
        assert (
            exposition.value(text, "hypervisor_host_connection_state", **host, state="connected")
            == 1
        )
        assert exposition.value(text, "hypervisor_host_maintenance_mode", **host) == 0
        assert (
            exposition.value(
                text, "hypervisor_openstack_agent_up", **host, agent_type="Linux bridge agent"
            )
            == 1
        )
    finally:
        exporter.stop()


def test_clouds_yaml_entry(openstack_cloud: OpenStackCloud, tmp_path: Path) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        yaml.safe_dump(
            {"clouds": {"lab": {"auth": openstack_cloud.auth, "region_name": "RegionOne"}}}
        )
    )
    config = {
        "targets": [{"name": "os", "kind": "openstack", "cloud": "lab", "clouds_file": str(clouds)}]
    }
    exporter = Exporter(config, tmp_path)
    try:
        text = exporter.metrics()
        assert exposition.value(text, "hypervisor_target_up", target="os", kind="openstack") == 1
        assert (
            exposition.value(text, "hypervisor_openstack_compute_service_up", host=COMPUTE_HOST)
            == 1
        )
    finally:
        exporter.stop()


def test_wrong_password_is_a_down_target_without_the_password(
    openstack_cloud: OpenStackCloud, tmp_path: Path
) -> None:
    config = {"targets": [openstack_cloud.target(password="not-the-password-4711")]}
    exporter = Exporter(config, tmp_path)
    try:
        text = exporter.metrics()
        assert exposition.value(text, "hypervisor_target_up", target="os", kind="openstack") == 0
        wait_until(lambda: "401" in exporter.log_tail(), 10, "the refusal logged")
        log = exporter.log_path.read_text()
        assert "not-the-password-4711" not in log and openstack_cloud.password not in log
    finally:
        exporter.stop()
