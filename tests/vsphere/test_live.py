"""The real exporter process against the project's vCenter simulator, end to end: what a
user sees on /metrics when vCenter changes."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from exporter.runner import ABANDON_GRACE
from harness.exporter import Exporter
from harness.exposition import parse, value, values
from harness.process import wait_until
from harness.vcsim import Vcsim
from tests.vsphere import scenario

Start = Callable[..., Exporter]


def test_autostart_matrix(vcsim: Vcsim, start_exporter: Start) -> None:
    expected = scenario.autostart_matrix(vcsim)
    text = start_exporter([vcsim.target()]).metrics()
    assert value(text, "hypervisor_target_up", target="vc") == 1
    for vm, want in expected.items():
        host = vm.rsplit("_", 1)[0]
        labels = {"target": "vc", "host": host, "vm": vm}
        assert value(text, "hypervisor_vm_autostart_enabled", **labels) == want["enabled"], vm
        for name, key in (("order", "order"), ("delay_seconds", "delay")):
            found = values(text, f"hypervisor_vm_autostart_{name}", **labels)
            assert found == ([] if want[key] is None else [want[key]]), (vm, name)
        assert (
            value(text, "hypervisor_vm_power_state", **labels, state="running") == want["running"]
        ), vm
    assert value(text, "hypervisor_host_autostart_enabled", host="DC0_H0") == 1
    assert value(text, "hypervisor_host_autostart_enabled", host="DC0_H1") == 0


def test_autostart_when_vcenter_refuses_the_traversal(vcsim: Vcsim, start_exporter: Start) -> None:
    """A vCenter that refuses the property-path traversal to the autostart managers: the
    exporter reads each host's config.autoStart instead and says so once."""
    vcsim.refuse_path_traversal()
    expected = scenario.autostart_matrix(vcsim)
    exporter = start_exporter([vcsim.target()])
    before = vcsim.calls()
    text = exporter.metrics()
    assert value(text, "hypervisor_target_up", target="vc") == 1
    for vm, want in expected.items():
        assert value(text, "hypervisor_vm_autostart_enabled", vm=vm) == want["enabled"], vm
        assert values(text, "hypervisor_vm_autostart_order", vm=vm) == (
            [] if want["order"] is None else [want["order"]]
        ), vm
    assert value(text, "hypervisor_host_autostart_enabled", host="DC0_H0") == 1
    exporter.metrics()
    # the filter refused once, then made without the traversal; one update call per scrape
    after = vcsim.calls()
    assert after["CreateFilter"] - before.get("CreateFilter", 0) == 2
    assert after["WaitForUpdatesEx"] - before.get("WaitForUpdatesEx", 0) == 2
    assert exporter.log_tail(30).count("refused the traversal to autostart managers") == 1


def test_power_change_between_scrapes(vcsim: Vcsim, start_exporter: Start) -> None:
    exporter = start_exporter([vcsim.target()])
    vm = {"target": "vc", "host": "DC0_H1", "vm": "DC0_H1_VM3"}
    first = exporter.metrics()
    assert value(first, "hypervisor_vm_power_state", **vm, state="running") == 1
    booted = value(first, "hypervisor_vm_boot_timestamp_seconds", **vm)

    si = vcsim.connect()
    moid = scenario.vm_ids(vcsim)["DC0_H1_VM3"]
    scenario.power(si, moid, on=False)
    second = exporter.metrics()
    assert value(second, "hypervisor_vm_power_state", **vm, state="stopped") == 1
    assert value(second, "hypervisor_vm_power_state", **vm, state="running") == 0
    assert values(second, "hypervisor_vm_boot_timestamp_seconds", **vm) == []

    before = time.time()
    scenario.power(si, moid, on=True)
    third = exporter.metrics()
    assert value(third, "hypervisor_vm_power_state", **vm, state="running") == 1
    rebooted = value(third, "hypervisor_vm_boot_timestamp_seconds", **vm)
    assert rebooted > booted and rebooted >= before - 1


def test_host_not_responding(vcsim: Vcsim, start_exporter: Start) -> None:
    exporter = start_exporter([vcsim.target()])
    assert (
        value(
            exporter.metrics(), "hypervisor_host_connection_state", host="DC0_H2", state="connected"
        )
        == 1
    )
    vcsim.set_host("DC0_H2", connection_state="notResponding")
    text = exporter.metrics()
    assert value(text, "hypervisor_target_up", target="vc") == 1
    states = {
        labels["state"]: v
        for labels, v in parse(text)["hypervisor_host_connection_state"]
        if labels["host"] == "DC0_H2"
    }
    assert states == {"connected": 0, "disconnected": 0, "not_responding": 1}
    # its VMs' power state is stale in vCenter: unknown, and no CPU sample for the host
    assert values(text, "hypervisor_vm_power_state", host="DC0_H2", state="unknown") == [1] * 6
    assert values(text, "hypervisor_host_cpu_idle_ratio", host="DC0_H2") == []
    assert values(text, "hypervisor_host_cpu_idle_ratio", host="DC0_H1") != []

    vcsim.set_host("DC0_H2", connection_state="connected")
    text = exporter.metrics()
    assert value(text, "hypervisor_host_connection_state", host="DC0_H2", state="connected") == 1
    assert values(text, "hypervisor_vm_power_state", host="DC0_H2", state="running") == [1] * 6


def test_injected_drops_and_queues(vcsim: Vcsim, start_exporter: Start) -> None:
    want = scenario.inject_load(vcsim)
    text = start_exporter([vcsim.target()]).metrics()
    host = {"target": "vc", "host": "DC0_H0"}
    vm = {**host, "vm": "DC0_H0_VM0"}
    assert value(text, "hypervisor_host_cpu_idle_ratio", **host) == pytest.approx(want["cpu_idle"])
    assert value(
        text, "hypervisor_host_network_packet_loss_ratio", **host, interface="vmnic0"
    ) == pytest.approx(want["host_loss"])
    assert value(
        text, "hypervisor_host_disk_queue_length", **host, device="naa.1"
    ) == pytest.approx(want["host_queue"])
    assert value(text, "hypervisor_vm_disk_queue_length", **vm, disk="scsi0:0") == pytest.approx(
        want["vm_queue"]
    )
    assert value(
        text, "hypervisor_vm_network_packet_loss_ratio", **vm, interface="4000"
    ) == pytest.approx(want["vm_loss"])
    # over the alert thresholds: queue > 50 and loss > 0.001
    assert want["host_queue"] > 50 and want["vm_queue"] > 50 and want["host_loss"] > 0.001

    vcsim.clear_perf()
    vcsim.inject_perf("DC0_H0", "net.packetsRx.summation", "vmnic0", 5000)
    text = start_exporter([vcsim.target()]).metrics()
    assert value(text, "hypervisor_host_network_packet_loss_ratio", **host, interface="vmnic0") == 0


def test_duplicate_names_in_two_folders(vcsim: Vcsim, start_exporter: Start) -> None:
    scenario.duplicate_name(vcsim, "DC0_H0_VM5", "DC0_H0_VM0")
    text = start_exporter([vcsim.target()]).metrics()
    info = [labels for labels, _ in parse(text)["hypervisor_vm_info"] if labels["host"] == "DC0_H0"]
    twins = sorted(labels["vm"] for labels in info if labels["vm"].startswith("DC0_H0_VM0"))
    assert len(twins) == 2 and twins[0] != twins[1], twins
    ids = {v["Name"]: v["Moid"] for v in vcsim.inventory()["vms"] if v["HostName"] == "DC0_H0"}
    assert len(ids) == 5  # the simulator agrees: two VMs, one name
    # each twin carries its own autostart and power series
    for twin in twins:
        assert value(text, "hypervisor_vm_power_state", vm=twin, state="running") == 1


def test_guest_tools(vcsim: Vcsim, start_exporter: Start) -> None:
    vcsim.set_vm("DC0_H0_VM0", tools_running=True)
    vcsim.set_vm("DC0_H0_VM1", tools_running=False)
    text = start_exporter([vcsim.target()]).metrics()
    assert value(text, "hypervisor_vm_guest_tools_running", vm="DC0_H0_VM0") == 1
    assert value(text, "hypervisor_vm_guest_tools_running", vm="DC0_H0_VM1") == 0
    assert values(text, "hypervisor_vm_guest_tools_running", vm="DC0_H0_VM2") == []


@pytest.mark.slow
def test_two_thousand_vms(start_vcsim: Callable[..., Vcsim], start_exporter: Start) -> None:
    sim = start_vcsim(clusters=2, hosts=10, vms=1000)
    assert sim.state["vms"] == 2000
    exporter = start_exporter([sim.target(timeout=30)])
    text = exporter.metrics()
    assert value(text, "hypervisor_target_up", target="vc") == 1
    samples = parse(text)
    assert len(samples["hypervisor_vm_info"]) == 2000
    assert len(samples["hypervisor_vm_power_state"]) == 2000 * 6
    assert len(samples["hypervisor_host_info"]) == 20
    clusters = {labels["cluster"] for labels, _ in samples["hypervisor_vm_info"]}
    assert clusters == {"DC0_C0", "DC0_C1"}
    # one property-collector round trip per scrape, however many VMs: the changes since
    # the last one (none), not the inventory
    before = sim.calls()
    exporter.metrics()
    after = sim.calls()
    assert after["WaitForUpdatesEx"] - before["WaitForUpdatesEx"] == 1
    assert after.get("RetrievePropertiesEx", 0) == before.get("RetrievePropertiesEx", 0)
    assert after["CreateFilter"] == 1
    assert after.get("Login", 0) == 1


SLOW_TIMEOUT = 3  # the vc target's timeout in the slow-vCenter test
SLOW_LATENCY = 10 * SLOW_TIMEOUT  # seconds the simulator then takes for every SOAP call


def test_slow_vcenter_times_out_while_other_target_is_served(
    vcsim: Vcsim, start_exporter: Start
) -> None:
    demo = {"name": "demo", "kind": "libvirt", "uri": "test:///default"}
    exporter = start_exporter([vcsim.target(timeout=SLOW_TIMEOUT), demo])
    assert value(exporter.metrics(), "hypervisor_target_up", target="vc") == 1
    vcsim.set_latency(SLOW_LATENCY * 1000)
    started = time.monotonic()
    text = exporter.metrics()
    took = time.monotonic() - started
    # Cut at the target's timeout, not at vCenter's pace: one call alone takes ten times
    # the timeout, so a scrape that waited for it would take at least five times this
    # bound; the margin, the timeout again, absorbs a loaded machine's scheduling.
    assert took < 2 * SLOW_TIMEOUT, f"the scrape took {took:.1f}s"
    assert value(text, "hypervisor_target_up", target="vc", kind="vsphere") == 0
    assert value(text, "hypervisor_target_up", target="demo", kind="libvirt") == 1
    assert values(text, "hypervisor_vm_info", target="demo") != []
    assert values(text, "hypervisor_vm_info", target="vc") == []
    assert f"collection timed out after {SLOW_TIMEOUT}s" in exporter.log_tail(50)

    vcsim.set_latency(0)

    def recovered() -> bool:
        return value(exporter.metrics(), "hypervisor_target_up", target="vc") == 1

    # The call still hung gives its slot back at the latest ABANDON_GRACE after the
    # timeout (or when the simulator answers it); then a fresh call is answered at once.
    wait_until(recovered, SLOW_TIMEOUT + ABANDON_GRACE + 20, "vc target up again")


def test_wrong_password(vcsim: Vcsim, start_exporter: Start) -> None:
    wrong = "Wr0ng-Passw0rd-7731"
    exporter = start_exporter([vcsim.target(password=wrong)])
    text = exporter.metrics()
    assert value(text, "hypervisor_target_up", target="vc") == 0
    assert value(text, "hypervisor_target_collection_errors_total", target="vc") == 1
    exporter.stop()
    log = exporter.log_path.read_text()
    line = next(line for line in log.splitlines() if "collection failed" in line)
    assert "target=vc" in line and "refused" in line and vcsim.username in line, line
    assert "incorrect user name or password" in line
    assert wrong not in log and vcsim.password not in log


def test_one_login_across_scrapes_and_logout_at_shutdown(
    vcsim: Vcsim, start_exporter: Start
) -> None:
    exporter = start_exporter([vcsim.target()])
    for _ in range(15):
        assert value(exporter.metrics(), "hypervisor_target_up", target="vc") == 1
    calls = vcsim.calls()
    assert calls.get("Login") == 1
    assert calls.get("WaitForUpdatesEx", 0) >= 15
    exporter.stop()
    assert vcsim.calls().get("Logout") == 1


def test_login_again_when_the_session_is_gone(vcsim: Vcsim, start_exporter: Start) -> None:
    exporter = start_exporter([vcsim.target()])
    assert value(exporter.metrics(), "hypervisor_target_up", target="vc") == 1
    vcsim.revoke_sessions()  # vCenter expired the session (or restarted)
    text = exporter.metrics()
    assert value(text, "hypervisor_target_up", target="vc") == 1
    assert value(text, "hypervisor_target_collection_errors_total", target="vc") == 0
    assert vcsim.calls().get("Login") == 2


def test_tls_verified_against_ca_file(
    vcsim: Vcsim, start_exporter: Start, tmp_path: object
) -> None:
    # Without ca_file the simulator's self-signed certificate is refused: verification is on.
    target = vcsim.target()
    del target["ca_file"]
    exporter = start_exporter([target])
    assert value(exporter.metrics(), "hypervisor_target_up", target="vc") == 0
    assert "CERTIFICATE_VERIFY_FAILED" in exporter.log_tail(20)


def test_perf_samples_follow_the_inventory(vcsim: Vcsim, start_exporter: Start) -> None:
    """Perf queries for the previous collection's VMs start beside the property retrieval:
    a VM that stopped loses its samples, one that started or a new session still gets them."""
    vcsim.inject_perf("DC0_H1_VM3", "virtualDisk.readOIO.latest", "scsi0:0", 7)
    exporter = start_exporter([vcsim.target()])
    vm = {"target": "vc", "vm": "DC0_H1_VM3", "disk": "scsi0:0"}

    def queue() -> list[float]:
        return values(exporter.metrics(), "hypervisor_vm_disk_queue_length", **vm)

    assert queue() == [7]
    si = vcsim.connect()
    moid = scenario.vm_ids(vcsim)["DC0_H1_VM3"]
    scenario.power(si, moid, on=False)
    assert queue() == []
    scenario.power(si, moid, on=True)
    assert queue() == [7]
    vcsim.revoke_sessions()
    assert queue() == [7]
    assert vcsim.calls().get("Login") == 3  # the exporter twice, this test's own session once


def test_failed_power_on_is_read_from_the_event_history(
    vcsim: Vcsim, start_exporter: Start
) -> None:
    """vCenter records a failed power-on as VmFailedToPowerOnEvent with the fault's message;
    the exporter reads only new events at each scrape, one ReadNextEvents when nothing
    happened, and exports the latest failure per VM."""
    exporter = start_exporter([vcsim.target()])
    web = {"target": "vc", "host": "DC0_H1", "vm": "DC0_H1_VM3"}
    first = exporter.metrics()
    assert values(first, "hypervisor_vm_start_failure_timestamp_seconds") == []

    scenario.power(vcsim.connect(), scenario.vm_ids(vcsim)["DC0_H1_VM3"], on=False)
    message = "File [datastore1] DC0_H1_VM3/DC0_H1_VM3.vmdk was not found"
    before = time.time()
    vcsim.post_event("DC0_H1_VM3", "VmFailedToPowerOnEvent", message)
    vcsim.post_event(
        "DC0_H0_VM1",
        "com.vmware.vc.HA.FailedRestartAfterIsolationEvent",
        "vSphere HA failed to restart DC0_H0_VM1 after isolation",
    )
    second = exporter.metrics()
    failed_at = value(second, "hypervisor_vm_start_failure_timestamp_seconds", **web)
    assert before - 1 <= failed_at <= time.time()
    info = [
        labels["reason"]
        for labels, v in parse(second)["hypervisor_vm_start_failure_info"]
        if labels["vm"] == "DC0_H1_VM3" and v == 1
    ]
    assert info == [message]
    assert value(second, "hypervisor_vm_start_failure_info", vm="DC0_H0_VM1") == 1
    assert value(second, "hypervisor_vm_power_state", **web, state="stopped") == 1

    # Nothing new: each scrape costs one ReadNextEvents, and the failure stays.
    calls = vcsim.calls()
    for _ in range(3):
        text = exporter.metrics()
    after = vcsim.calls()
    assert after.get("ReadNextEvents", 0) - calls.get("ReadNextEvents", 0) == 3
    assert after.get("CreateCollectorForEvents") == calls.get("CreateCollectorForEvents") == 1
    assert value(text, "hypervisor_vm_start_failure_timestamp_seconds", **web) == failed_at

    # A later failure of the same VM replaces the earlier one: one series per VM.
    vcsim.post_event("DC0_H1_VM3", "VmFailedToPowerOnEvent", "Insufficient resources")
    text = exporter.metrics()
    reasons = [
        labels["reason"]
        for labels, _ in parse(text)["hypervisor_vm_start_failure_info"]
        if labels["vm"] == "DC0_H1_VM3"
    ]
    assert reasons == ["Insufficient resources"]
