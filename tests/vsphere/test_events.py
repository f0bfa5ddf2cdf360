"""vCenter's failed-start events as plain data, and the latest one per VM."""

from __future__ import annotations

import datetime

from pyVmomi import vim

from exporter.collectors.start_failures import StartFailure, StartFailures
from exporter.collectors.vsphere.events import (
    EVENT_TYPES,
    VmFailureEvent,
    event_message,
    plain_event,
    record_events,
)

CREATED = datetime.datetime(2026, 11, 29, 22, 0, 0, tzinfo=datetime.UTC)


def vm_argument(moid: str, name: str) -> vim.event.VmEventArgument:
    return vim.event.VmEventArgument(vm=vim.VirtualMachine(moid), name=name)


def test_a_failed_power_on_says_what_the_fault_says() -> None:
    fault = vim.fault.FileNotFound(file="[ds1] web/web.vmdk")
    fault.msg = "File [ds1] web/web.vmdk was not found"
    event = vim.event.VmFailedToPowerOnEvent(
        key=15,
        createdTime=CREATED,
        vm=vm_argument("vm-42", "web"),
        reason=fault,
        fullFormattedMessage="Failed to power on web on esx1 in DC0: File [ds1] web/web.vmdk was"
        " not found",
    )
    assert plain_event(event) == VmFailureEvent(
        15,
        "VmFailedToPowerOnEvent",
        "vm-42",
        CREATED.timestamp(),
        "File [ds1] web/web.vmdk was not found",
    )


def test_has_failover_and_extended_events_say_their_own_message() -> None:
    ha = vim.event.EventEx(
        key=16,
        createdTime=CREATED,
        vm=vm_argument("vm-42", "web"),
        eventTypeId="com.vmware.vc.HA.FailedRestartAfterIsolationEvent",
        message="vSphere HA failed to restart web after isolation",
    )
    plain = plain_event(ha)
    assert plain is not None
    assert plain.type == "com.vmware.vc.HA.FailedRestartAfterIsolationEvent"
    assert plain.message == "vSphere HA failed to restart web after isolation"
    gave_up = vim.event.VmMaxRestartCountReached(
        key=17, createdTime=CREATED, vm=vm_argument("vm-7", "db")
    )
    plain = plain_event(gave_up)
    assert plain is not None
    assert plain.message == "vSphere HA reached the maximum VM restart count"
    # An event about no VM is of no use here.
    assert plain_event(vim.event.EventEx(key=18, createdTime=CREATED, eventTypeId="x")) is None


def test_message_order() -> None:
    assert event_message("VmFailoverFailed", None, "InsufficientResourcesFault", None, "") == (
        "InsufficientResourcesFault"
    )
    assert event_message("VmFailoverFailed", " ", None, None, "  full  ") == "full"
    assert event_message("com.vmware.vc.host.AutoStartPowerOnFailedEvent", None, None, None, None)
    assert "VmFailedToPowerOnEvent" in EVENT_TYPES


def test_latest_failure_per_vm_wins() -> None:
    failures: StartFailures[str] = StartFailures(window=3600)
    record_events(
        failures,
        [
            VmFailureEvent(1, "VmFailedToPowerOnEvent", "vm-1", 100.0, "first"),
            VmFailureEvent(3, "VmFailedToPowerOnEvent", "vm-1", 300.0, "latest"),
            VmFailureEvent(2, "VmFailoverFailed", "vm-1", 200.0, "in between"),
            VmFailureEvent(4, "VmFailedToPowerOnEvent", "vm-2", 150.0, "x" * 500),
        ],
    )
    assert failures.get("vm-1") == StartFailure(300.0, "latest")
    other = failures.get("vm-2")
    assert other is not None and len(other.reason) == 200


def test_samples_carry_each_vms_recorded_failure() -> None:
    from exporter import families as fam
    from exporter.collectors.vsphere.samples import Snapshot, snapshot_samples

    objects = {
        "host-1": {"type": "HostSystem", "name": "esx1", "runtime.connectionState": "connected"},
        "vm-1": {
            "type": "VirtualMachine",
            "name": "web",
            "runtime.host": "host-1",
            "runtime.powerState": "poweredOff",
        },
        "vm-2": {
            "type": "VirtualMachine",
            "name": "db",
            "runtime.host": "host-1",
            "runtime.powerState": "poweredOn",
        },
    }
    snap = Snapshot(
        objects, start_failures={"vm-1": [1000.0, "File [ds1] web/web.vmdk was not found"]}
    )
    out = snapshot_samples("vc", snap)
    labels = {"target": "vc", "host": "esx1", "vm": "web"}
    assert out.value(fam.VM_START_FAILURE_TIMESTAMP, **labels) == 1000.0
    assert (
        out.value(
            fam.VM_START_FAILURE_INFO, **labels, reason="File [ds1] web/web.vmdk was not found"
        )
        == 1
    )
    assert len(out.series[fam.VM_START_FAILURE_INFO]) == 1
    # A snapshot recorded without failures (older recordings) reads as none.
    assert Snapshot.from_dict({"objects": objects}).start_failures == {}
