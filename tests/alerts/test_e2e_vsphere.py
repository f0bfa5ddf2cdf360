"""End to end on vSphere: a failed power-on that vCenter records (VmFailedToPowerOnEvent
with its fault, posted by the simulator as vCenter posts it) reaches the webhook through a
real Prometheus (the shipped rules, `for:` shortened in a rendered copy) and a real
Alertmanager (the shipped example routing), naming the VM and quoting vCenter's message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.exporter import Exporter
from harness.process import wait_until
from harness.prometheus import Alertmanager, Prometheus
from harness.vcsim import Vcsim
from tests.alerts.test_e2e import render_rules
from tests.alerts.webhook import Webhook, alertmanager_config
from tests.vsphere import scenario

pytestmark = pytest.mark.slow


def test_failed_power_on_warns_with_vcenters_message(tmp_path: Path) -> None:
    vm, message = "DC0_H0_VM1", "File [datastore1] DC0_H0_VM1/DC0_H0_VM1.vmdk was not found"
    webhook = Webhook()
    peers: list[Any] = []
    try:
        vcsim = Vcsim(tmp_path / "vcsim", clusters=0, standalone=1, vms=2)
        peers.append(vcsim)
        alertmanager = Alertmanager(tmp_path / "am", alertmanager_config(webhook))
        peers.append(alertmanager)
        exporter = Exporter({"targets": [vcsim.target("vc-e2e")]}, tmp_path / "exporter")
        peers.append(exporter)
        prometheus = Prometheus(
            tmp_path / "prometheus",
            [f"127.0.0.1:{exporter.port}"],
            [render_rules(tmp_path)],
            alertmanager_url=alertmanager.url,
        )
        peers.append(prometheus)
        wait_until(
            lambda: bool(
                prometheus.query(f'hypervisor_vm_power_state{{vm="{vm}",state="running"}} == 1')
            ),
            30,
            "Prometheus seeing the VM running",
        )

        # Someone powers the VM off and back on; vCenter refuses: its disk is gone.
        scenario.power(vcsim.connect(), scenario.vm_ids(vcsim)[vm], on=False)
        vcsim.post_event(vm, "VmFailedToPowerOnEvent", message)

        note, alert = webhook.wait_for(
            f"firing HypervisorVMStartFailed for {vm}",
            lambda n, a: (
                a["status"] == "firing"
                and a["labels"].get("alertname") == "HypervisorVMStartFailed"
                and a["labels"].get("vm") == vm
            ),
            timeout=90,
        )
        assert note.receiver == "/tickets", "a warning goes to the tickets receiver"
        assert alert["labels"]["target"] == "vc-e2e"
        description = alert["annotations"]["description"]
        assert description.startswith(f"vCenter: {message}. VM {vm} on host DC0_H0 "), description
        assert alert["annotations"]["runbook_url"].endswith(
            "/docs/runbooks/HypervisorVMStartFailed.md"
        )
        print(f"\nticket: {description}")
    finally:
        for peer in reversed(peers):
            peer.stop()
        webhook.close()
