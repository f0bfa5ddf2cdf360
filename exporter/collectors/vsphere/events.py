"""vCenter's record of failed VM starts, read incrementally from its event history.

One EventHistoryCollector per session, filtered to the event types that mean a VM failed
to power on or to be restarted, created with the target's window as its begin time. Each
collection calls ReadNextEvents, which returns only what vCenter recorded since the last
call (oldest first; nothing, in one round trip, when nothing happened), a bounded page at a
time and a bounded number of pages per collection: a burst larger than that is read over
the next collections. The latest failure per VM is kept (`StartFailures`) until it is
older than the window.

Event types (vSphere's eventTypeId, class names and HA's extended event ids):
- `VmFailedToPowerOnEvent`: any power-on that failed, by hand, through the API, by the
  host's autostart or DRS; its `reason` is the fault with vCenter's localized message
  ("File [ds1] web/web.vmdk was not found").
- `VmFailoverFailed`: vSphere HA could not fail the VM over (reason: the fault).
- `VmMaxRestartCountReached`: HA stopped trying to restart the VM.
- `com.vmware.vc.HA.FailedRestartAfterIsolationEvent`: HA failed to restart a VM after
  its host was isolated.
- `com.vmware.vc.host.AutoStartPowerOnFailedEvent`: the host's autostart could not power
  the VM on.
- `com.vmware.vc.vcp.VmRestartFailedEvent`: a VM affected by a storage component failure
  (VM Component Protection) failed to restart.
Successes (`VmPoweredOnEvent`, `com.vmware.vc.ha.VmRestartedByHAEvent`) are not read: the
alerts pair a failure with the VM's current power state instead.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any

from exporter.collectors.start_failures import StartFailure, StartFailures

log = logging.getLogger("exporter.collectors.vsphere")

EVENT_TYPES = (
    "VmFailedToPowerOnEvent",
    "VmFailoverFailed",
    "VmMaxRestartCountReached",
    "com.vmware.vc.HA.FailedRestartAfterIsolationEvent",
    "com.vmware.vc.host.AutoStartPowerOnFailedEvent",
    "com.vmware.vc.vcp.VmRestartFailedEvent",
)
PAGE = 100  # events per ReadNextEvents
MAX_PAGES = 10  # ReadNextEvents per collection at most; the rest waits for the next one
# What an event says when it carries no message of its own.
DEFAULT_MESSAGES = {
    "VmFailedToPowerOnEvent": "Cannot power on the VM",
    "VmFailoverFailed": "vSphere HA virtual machine failover unsuccessful",
    "VmMaxRestartCountReached": "vSphere HA reached the maximum VM restart count",
    "com.vmware.vc.HA.FailedRestartAfterIsolationEvent": (
        "vSphere HA failed to restart a network isolated virtual machine"
    ),
    "com.vmware.vc.host.AutoStartPowerOnFailedEvent": "Autostart power on failed",
    "com.vmware.vc.vcp.VmRestartFailedEvent": (
        "Virtual machine affected by component failure failed to restart"
    ),
}


@dataclass(frozen=True)
class VmFailureEvent:
    """One event, as plain data (recordable as JSON)."""

    key: int
    type: str  # the eventTypeId: class name or an extended event's id
    vm: str  # managed object id
    created: float  # Unix seconds, vCenter's clock
    message: str


def event_message(
    kind: str, fault_message: str | None, fault_type: str | None, own: str | None, full: str | None
) -> str:
    """The failure in vCenter's words: the fault's localized message (what vCenter shows
    as the reason), else the event's own message, else its full formatted message, else
    the fault's type or the event type's description."""
    for text in (fault_message, own, full):
        if text and text.strip():
            return text.strip()
    if fault_type:
        return fault_type
    return DEFAULT_MESSAGES.get(kind, kind)


def plain_event(event: Any) -> VmFailureEvent | None:
    """A pyVmomi event as plain data; None without a VM."""
    vm = getattr(event, "vm", None)
    moid = getattr(getattr(vm, "vm", None), "_moId", None)
    if moid is None:
        return None
    kind = getattr(event, "eventTypeId", None) or type(event).__name__.rsplit(".", 1)[-1]
    reason = getattr(event, "reason", None)
    fault_message = getattr(reason, "msg", None) if reason is not None else None
    fault_type = type(reason).__name__.rsplit(".", 1)[-1] if reason is not None else None
    created = event.createdTime
    if created.tzinfo is None:
        created = created.replace(tzinfo=datetime.UTC)
    return VmFailureEvent(
        key=int(event.key),
        type=str(kind),
        vm=str(moid),
        created=created.timestamp(),
        message=event_message(
            str(kind),
            fault_message,
            fault_type,
            getattr(event, "message", None),
            getattr(event, "fullFormattedMessage", None),
        ),
    )


def record_events(failures: StartFailures[str], events: list[VmFailureEvent]) -> None:
    """Keeps each VM's latest failure (events come oldest first, but need not)."""
    for event in events:
        failures.record(event.vm, StartFailure(event.created, event.message))


class EventReader:
    """The session's EventHistoryCollector and what it has read. Blocking: call `read`
    from the target's lane; a collection calls it once."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._collector: Any = None
        self._for: Any = None  # the service instance the collector belongs to
        self.round_trips = 0  # SOAP calls made, for the benchmarks

    def _create(self, content: Any) -> Any:
        from pyVmomi import vim

        begin = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=self.window)
        spec = vim.event.EventFilterSpec(
            eventTypeId=list(EVENT_TYPES),
            entity=vim.event.EventFilterSpec.ByEntity(entity=content.rootFolder, recursion="all"),
            time=vim.event.EventFilterSpec.ByTime(beginTime=begin),
            maxCount=PAGE,
        )
        self.round_trips += 1
        return content.eventManager.CreateCollectorForEvents(spec)

    def read(self, si: Any, content: Any) -> list[VmFailureEvent]:
        """What vCenter recorded since the last call on this session (a new session gets a
        new collector, which starts from the window's beginning)."""
        if self._collector is None or self._for is not si:
            self._collector, self._for = self._create(content), si
        out: list[VmFailureEvent] = []
        try:
            for _ in range(MAX_PAGES):
                self.round_trips += 1
                page = self._collector.ReadNextEvents(PAGE) or []
                out += [e for e in map(plain_event, page) if e is not None]
                if len(page) < PAGE:
                    break
        except Exception:
            self._collector = None  # a new one next time (gone with its session, or broken)
            raise
        return out

    def forget(self) -> None:
        self._collector, self._for = None, None
