"""End to end on vSphere: a failed power-on that vCenter records (VmFailedToPowerOnEvent
with its fault, posted by the simulator as vCenter posts it) reaches the webhook through a
real Prometheus (the shipped rules, `for:` shortened in a rendered copy) and a real
Alertmanager (the shipped example routing), naming the VM and quoting vCenter's message."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.process import running
from harness.vcsim import Vcsim
from tests.alerts.webhook import alert_path
from tests.vsphere import scenario

pytestmark = pytest.mark.slow


def test_failed_power_on_warns_with_vcenters_message(tmp_path: Path) -> None:
    vm, message = "DC0_H0_VM1", "File [datastore1] DC0_H0_VM1/DC0_H0_VM1.vmdk was not found"
    with (
        running(Vcsim(tmp_path / "vcsim", clusters=0, standalone=1, vms=2)) as vcsim,
        alert_path(tmp_path, [vcsim.target("vc-e2e")]) as path,
    ):
        path.wait_running(vm)

        # Someone powers the VM off and back on; vCenter refuses: its disk is gone.
        scenario.power(vcsim.connect(), scenario.vm_ids(vcsim)[vm], on=False)
        vcsim.post_event(vm, "VmFailedToPowerOnEvent", message)

        note, alert = path.webhook.wait_for_alert("firing", "HypervisorVMStartFailed", 90, vm=vm)
        assert note.receiver == "/tickets", "a warning goes to the tickets receiver"
        assert alert["labels"]["target"] == "vc-e2e"
        description = alert["annotations"]["description"]
        assert description.startswith(f"vCenter: {message}. VM {vm} on host DC0_H0 "), description
        assert alert["annotations"]["runbook_url"].endswith(
            "/docs/runbooks/HypervisorVMStartFailed.md"
        )
        print(f"\nticket: {description}")
