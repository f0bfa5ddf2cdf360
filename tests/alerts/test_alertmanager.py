"""The shipped Alertmanager example on a real Alertmanager: alerts posted to its API are
routed by severity, grouped per target and host, and inhibited as docs/alerts.md says."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.prometheus import Alertmanager
from tests.alerts.webhook import Notification, Webhook, alertmanager_config
from tests.conftest import starts_peer

SEVERITY = {
    "HypervisorVMAutostartFailed": "critical",
    "HypervisorVMStartFailed": "warning",
    "HypervisorHostDisconnected": "critical",
    "HypervisorTargetDown": "critical",
    "HypervisorCephHealthError": "critical",
    "HypervisorCephOSDDownHigh": "critical",
    "HypervisorCephHealthWarning": "warning",
    "HypervisorVMGuestToolsNotRunning": "warning",
    "HypervisorHostCPUIdleLow": "warning",
    "HypervisorDatastoreFreeLow": "warning",
    "HypervisorOpenStackComputeDown": "critical",
    "HypervisorOpenStackAgentDown": "critical",
}


@pytest.fixture(scope="module")
@starts_peer
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Alertmanager, Webhook]]:
    webhook = Webhook()
    workdir: Path = tmp_path_factory.mktemp("alertmanager")
    alertmanager = Alertmanager(workdir, alertmanager_config(webhook))
    try:
        yield alertmanager, webhook
    finally:
        alertmanager.stop()
        webhook.close()


def post(alertmanager: Alertmanager, *alerts: dict[str, str]) -> None:
    body = [
        {
            "labels": {**labels, "severity": SEVERITY[labels["alertname"]]},
            "annotations": {"summary": labels["alertname"]},
        }
        for labels in alerts
    ]
    request = urllib.request.Request(
        alertmanager.url + "/api/v2/alerts",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def inhibited(alertmanager: Alertmanager, target: str) -> dict[str, bool]:
    """{alertname/host/vm: inhibited?} for every alert of `target`, as Alertmanager's API
    reports it."""
    query = urllib.parse.urlencode({"filter": f'target="{target}"'})
    with urllib.request.urlopen(f"{alertmanager.url}/api/v2/alerts?{query}", timeout=5) as r:
        alerts: list[dict[str, Any]] = json.load(r)
    return {
        "/".join(
            filter(None, (a["labels"]["alertname"], a["labels"].get("host"), a["labels"].get("vm")))
        ): bool(a["status"]["inhibitedBy"])
        for a in alerts
    }


def expect_inhibited(alertmanager: Alertmanager, target: str, expected: dict[str, bool]) -> None:
    # The inhibitor learns about source alerts asynchronously, a moment after the API
    # accepted them: poll for the state rather than read it once.
    deadline = time.monotonic() + 10
    while (got := inhibited(alertmanager, target)) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    assert got == expected


def notified(webhook: Webhook, target: str) -> set[tuple[str, str, str]]:
    """(receiver, alertname, vm or host) of every firing alert of `target` notified so far."""
    return {
        (
            note.receiver,
            alert["labels"]["alertname"],
            alert["labels"].get("vm") or alert["labels"].get("host", ""),
        )
        for note, alert in webhook.alerts(target=target)
        if alert["status"] == "firing"
    }


def settle(webhook: Webhook, target: str, expected: set[tuple[str, str, str]]) -> None:
    """Waits for the expected notifications, then a little longer for unexpected ones."""
    deadline = time.monotonic() + 20
    while not expected <= notified(webhook, target) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2.5)  # more than group_wait + group_interval: muted alerts would have come
    assert notified(webhook, target) == expected


def test_disconnected_host_silences_everything_else_on_that_host(
    stack: tuple[Alertmanager, Webhook],
) -> None:
    alertmanager, webhook = stack
    t = "vc-disconnect"
    post(
        alertmanager,
        {
            "alertname": "HypervisorHostDisconnected",
            "target": t,
            "host": "esx1",
            "state": "not_responding",
        },
        {"alertname": "HypervisorVMAutostartFailed", "target": t, "host": "esx1", "vm": "a"},
        {"alertname": "HypervisorVMGuestToolsNotRunning", "target": t, "host": "esx1", "vm": "b"},
        {"alertname": "HypervisorHostCPUIdleLow", "target": t, "host": "esx1"},
        {"alertname": "HypervisorVMAutostartFailed", "target": t, "host": "esx2", "vm": "c"},
    )
    expect_inhibited(
        alertmanager,
        t,
        {
            "HypervisorHostDisconnected/esx1": False,
            "HypervisorVMAutostartFailed/esx1/a": True,
            "HypervisorVMGuestToolsNotRunning/esx1/b": True,
            "HypervisorHostCPUIdleLow/esx1": True,
            "HypervisorVMAutostartFailed/esx2/c": False,
        },
    )
    settle(
        webhook,
        t,
        {
            ("/pager", "HypervisorHostDisconnected", "esx1"),
            ("/pager", "HypervisorVMAutostartFailed", "c"),
        },
    )


def test_openstack_compute_down_is_the_one_page_for_its_host(
    stack: tuple[Alertmanager, Webhook],
) -> None:
    """nova-compute down: its page silences the host's connection alert (which does not
    silence it back) and everything else of the host, not other hosts' alerts."""
    alertmanager, webhook = stack
    t = "os-compute-down"
    post(
        alertmanager,
        {"alertname": "HypervisorOpenStackComputeDown", "target": t, "host": "compute1"},
        {
            "alertname": "HypervisorHostDisconnected",
            "target": t,
            "host": "compute1",
            "state": "not_responding",
        },
        {"alertname": "HypervisorVMAutostartFailed", "target": t, "host": "compute1", "vm": "a"},
        {
            "alertname": "HypervisorOpenStackAgentDown",
            "target": t,
            "host": "compute1",
            "agent_type": "Open vSwitch agent",
        },
        {"alertname": "HypervisorVMAutostartFailed", "target": t, "host": "compute2", "vm": "b"},
    )
    expect_inhibited(
        alertmanager,
        t,
        {
            "HypervisorOpenStackComputeDown/compute1": False,
            "HypervisorHostDisconnected/compute1": True,
            "HypervisorVMAutostartFailed/compute1/a": True,
            "HypervisorOpenStackAgentDown/compute1": True,
            "HypervisorVMAutostartFailed/compute2/b": False,
        },
    )
    settle(
        webhook,
        t,
        {
            ("/pager", "HypervisorOpenStackComputeDown", "compute1"),
            ("/pager", "HypervisorVMAutostartFailed", "b"),
        },
    )


def test_down_target_silences_every_other_alert_of_the_target(
    stack: tuple[Alertmanager, Webhook],
) -> None:
    alertmanager, webhook = stack
    t, other = "kvm-down", "kvm-fine"
    post(
        alertmanager,
        {"alertname": "HypervisorTargetDown", "target": t, "kind": "libvirt"},
        {"alertname": "HypervisorVMAutostartFailed", "target": t, "host": "kvm1", "vm": "a"},
        {"alertname": "HypervisorDatastoreFreeLow", "target": t, "datastore": "pool"},
        {"alertname": "HypervisorVMAutostartFailed", "target": other, "host": "kvm2", "vm": "z"},
    )
    expect_inhibited(
        alertmanager,
        t,
        {
            "HypervisorTargetDown": False,
            "HypervisorVMAutostartFailed/kvm1/a": True,
            "HypervisorDatastoreFreeLow": True,
        },
    )
    expect_inhibited(alertmanager, other, {"HypervisorVMAutostartFailed/kvm2/z": False})
    settle(webhook, t, {("/pager", "HypervisorTargetDown", "")})


def test_ceph_error_silences_its_warning_and_osd_alert_only(
    stack: tuple[Alertmanager, Webhook],
) -> None:
    alertmanager, webhook = stack
    t, other = "ceph-err", "ceph-warn"
    post(
        alertmanager,
        {"alertname": "HypervisorCephHealthError", "target": t},
        {"alertname": "HypervisorCephHealthWarning", "target": t},
        {"alertname": "HypervisorCephOSDDownHigh", "target": t},
        {"alertname": "HypervisorCephHealthWarning", "target": other},
    )
    expect_inhibited(
        alertmanager,
        t,
        {
            "HypervisorCephHealthError": False,
            "HypervisorCephHealthWarning": True,
            "HypervisorCephOSDDownHigh": True,
        },
    )
    settle(webhook, t, {("/pager", "HypervisorCephHealthError", "")})
    settle(webhook, other, {("/tickets", "HypervisorCephHealthWarning", "")})


def test_failed_autostart_silences_the_same_vms_start_failure_only(
    stack: tuple[Alertmanager, Webhook],
) -> None:
    alertmanager, webhook = stack
    t = "kvm-startfail"
    post(
        alertmanager,
        {"alertname": "HypervisorVMAutostartFailed", "target": t, "host": "kvm1", "vm": "web"},
        {"alertname": "HypervisorVMStartFailed", "target": t, "host": "kvm1", "vm": "web"},
        {"alertname": "HypervisorVMStartFailed", "target": t, "host": "kvm1", "vm": "batch"},
    )
    expect_inhibited(
        alertmanager,
        t,
        {
            "HypervisorVMAutostartFailed/kvm1/web": False,
            "HypervisorVMStartFailed/kvm1/web": True,
            "HypervisorVMStartFailed/kvm1/batch": False,
        },
    )
    settle(
        webhook,
        t,
        {
            ("/pager", "HypervisorVMAutostartFailed", "web"),
            ("/tickets", "HypervisorVMStartFailed", "batch"),
        },
    )


def test_vms_of_one_host_page_once_together(stack: tuple[Alertmanager, Webhook]) -> None:
    alertmanager, webhook = stack
    t = "vc-group"
    post(
        alertmanager,
        *[
            {"alertname": "HypervisorVMAutostartFailed", "target": t, "host": "esx1", "vm": vm}
            for vm in ("a", "b", "c")
        ],
        {"alertname": "HypervisorVMAutostartFailed", "target": t, "host": "esx2", "vm": "d"},
    )
    settle(webhook, t, {("/pager", "HypervisorVMAutostartFailed", vm) for vm in "abcd"})
    first: dict[str, Notification] = {}
    for note, alert in webhook.alerts(target=t):
        first.setdefault(alert["labels"]["vm"], note)
    assert first["a"] is first["b"] is first["c"], "one notification for the host's VMs"
    assert first["d"] is not first["a"], "another host is another notification"
    assert first["a"].body["groupLabels"] == {"target": t, "host": "esx1"}
