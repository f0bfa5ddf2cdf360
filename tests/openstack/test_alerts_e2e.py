"""End to end on the real throwaway OpenStack: the shipped rules in a real Prometheus (for:
and grace shortened in a rendered copy) and the shipped Alertmanager example in a real
Alertmanager (receivers pointed at a local webhook).

- A host boot as Nova sees it: nova-compute restarts with resume_guests_state_on_host_boot
  = false and its (fake) hypervisor has forgotten every instance. Nova's power-state sync
  records them NOSTATE while their vm_state is still active: the autostart page names them.
- nova-compute stopped: HypervisorOpenStackComputeDown pages.
- The Linux bridge agent stopped: HypervisorOpenStackAgentDown pages.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.openstack import COMPUTE_HOST, OpenStackCloud
from harness.process import wait_until
from harness.prometheus import Prometheus
from tests.alerts.webhook import Webhook, alert_path


@pytest.fixture
def stack(openstack_cloud: OpenStackCloud, tmp_path: Path) -> Iterator[tuple[Webhook, Prometheus]]:
    with alert_path(tmp_path, [openstack_cloud.target()]) as path:
        yield path.webhook, path.prometheus


def test_host_boot_pages_for_the_instances_nova_expects_running(
    openstack_cloud: OpenStackCloud, stack: tuple[Webhook, Prometheus]
) -> None:
    cloud = openstack_cloud
    webhook, prometheus = stack
    expected = cloud.create_server("boot-web", count=2)
    (stopped,) = cloud.create_server("boot-off")
    cloud.stop_server(stopped)
    wait_until(
        lambda: (
            len(
                prometheus.query('hypervisor_vm_power_state{vm=~"boot-web-.",state="running"} == 1')
            )
            == 2
        ),
        60,
        "Prometheus seeing both instances running",
    )

    cloud.restart_compute()
    booted = time.monotonic()
    wait_until(
        lambda: all(cloud.server(i).power_state == 0 for i in expected),
        90,
        "Nova's power-state sync: NOSTATE for the forgotten instances",
    )
    for name in ("boot-web-1", "boot-web-2"):
        _, alert = webhook.wait_for_alert(
            "firing", "HypervisorVMAutostartFailed", 120, host=COMPUTE_HOST, vm=name
        )
        assert alert["labels"]["severity"] == "critical"
        assert (
            f"VM {name} on host {COMPUTE_HOST} (target os)" in alert["annotations"]["description"]
        )
        assert "has autostart enabled but has been unknown" in alert["annotations"]["description"]
    page_latency = time.monotonic() - booted
    # The instance its user stopped never pages.
    assert not list(webhook.alerts(alertname="HypervisorVMAutostartFailed", vm="boot-off"))
    print(f"\nhost boot (nova-compute restarted) -> both pages: {page_latency:.1f}s")


def test_compute_service_down_pages(
    openstack_cloud: OpenStackCloud, stack: tuple[Webhook, Prometheus]
) -> None:
    cloud = openstack_cloud
    webhook, _ = stack
    cloud.stop_compute()
    stopped = time.monotonic()
    try:
        _, alert = webhook.wait_for_alert(
            "firing", "HypervisorOpenStackComputeDown", 120, host=COMPUTE_HOST
        )
        latency = time.monotonic() - stopped
        assert alert["labels"]["severity"] == "critical"
        assert alert["annotations"]["summary"] == f"nova-compute on {COMPUTE_HOST} is down"
        # The connection alert of the same host is silenced under it.
        time.sleep(3)
        assert not [
            a
            for n, a in webhook.alerts(alertname="HypervisorHostDisconnected", host=COMPUTE_HOST)
            if a["status"] == "firing"
        ]
        print(f"\nnova-compute stopped -> page: {latency:.1f}s (Nova's service_down_time 8 s)")
    finally:
        cloud.start_compute()
        cloud.wait_compute_up()


def test_neutron_agent_down_pages(
    openstack_cloud: OpenStackCloud, stack: tuple[Webhook, Prometheus]
) -> None:
    cloud = openstack_cloud
    webhook, _ = stack
    cloud.stop_agent()
    stopped = time.monotonic()
    try:
        _, alert = webhook.wait_for_alert(
            "firing",
            "HypervisorOpenStackAgentDown",
            120,
            host=COMPUTE_HOST,
            agent_type="Linux bridge agent",
        )
        assert alert["labels"]["severity"] == "critical"
        print(f"\nLinux bridge agent stopped -> page: {time.monotonic() - stopped:.1f}s")
    finally:
        cloud.start_agent()
        cloud.wait_agent(alive=True)
