"""The throwaway OpenStack itself: what the collector's tests rely on holds."""

from __future__ import annotations

from harness.openstack import COMPUTE_HOST, OpenStackCloud


def test_instances_boot_on_the_fake_compute_host(openstack_cloud: OpenStackCloud) -> None:
    (server_id,) = openstack_cloud.create_server("cloud-check")
    conn = openstack_cloud.connect()
    try:
        server = conn.compute.get_server(server_id)
        assert (server.status, server.vm_state, server.compute_host) == (
            "ACTIVE",
            "active",
            COMPUTE_HOST,
        )
        conn.compute.delete_server(server_id)
    finally:
        conn.close()


def test_compute_service_and_neutron_agent_report_up(openstack_cloud: OpenStackCloud) -> None:
    service = openstack_cloud.compute_service()
    assert (service.state, service.status) == ("up", "enabled")
    agent = openstack_cloud.agent()
    assert agent.is_alive and agent.agent_type == "Linux bridge agent"
