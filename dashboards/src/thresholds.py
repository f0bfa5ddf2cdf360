"""The alert thresholds, once, so that every panel draws the line its alert fires at.

The numbers are the contract's (docs/metrics.md, alerts/*.yaml): each `Limit` names the alert
it mirrors, the side of the line that is bad and the alert's severity, which picks the colour.
Grafana colours a threshold step from its value upwards, so a value exactly on an "above"
line shows the alert colour one step early (`> 50` fires above 50; 50 itself is orange).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["ok", "info", "warning", "critical"]

# One colour per severity on every board: the alert's severity decides how loud a panel is.
COLOURS: dict[Severity, str] = {
    "ok": "green",
    "info": "blue",
    "warning": "orange",
    "critical": "red",
}
GREY = "#8e8e8e"


@dataclass(frozen=True)
class Limit:
    alert: str
    value: float
    bad: Literal["above", "below"]
    severity: Severity
    unit: str  # Grafana unit id of the panels that draw it

    @property
    def colour(self) -> str:
        return COLOURS[self.severity]


CPU_IDLE_LOW = Limit("HypervisorHostCPUIdleLow", 0.20, "below", "warning", "percentunit")
MEMORY_HIGH = Limit("HypervisorHostMemoryPressure", 0.85, "above", "warning", "percentunit")
DISK_QUEUE_HIGH = Limit("HypervisorDiskQueueHigh", 50, "above", "warning", "short")
PACKET_LOSS_HIGH = Limit("HypervisorPacketLossHigh", 0.001, "above", "warning", "percentunit")
DATASTORE_FREE_LOW = Limit("HypervisorDatastoreFreeLow", 0.10, "below", "warning", "percentunit")
CEPH_OSD_DOWN_HIGH = Limit("HypervisorCephOSDDownHigh", 0.15, "above", "critical", "percentunit")

ALL = (
    CPU_IDLE_LOW,
    MEMORY_HIGH,
    DISK_QUEUE_HIGH,
    PACKET_LOSS_HIGH,
    DATASTORE_FREE_LOW,
    CEPH_OSD_DOWN_HIGH,
)
