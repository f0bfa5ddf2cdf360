"""The alert thresholds as the boards draw them, read from alerts/thresholds.yaml.

That table is the one place the numbers live (scripts/render-rules.py writes them into the
rules): each `Limit` names the alert it mirrors, the side of the line that is bad and the
alert's severity, which picks the colour, and `text` is how panel descriptions quote it.
Grafana colours a threshold step from its value upwards, so a value exactly on an "above"
line shows the alert colour one step early (`> 50` fires above 50; 50 itself is orange).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from alerts import thresholds as table

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
    text: str  # as descriptions quote it: 20% for ratios, 50 otherwise

    @property
    def colour(self) -> str:
        return COLOURS[self.severity]

    @property
    def fires(self) -> str:
        """ "Below 20% fires HypervisorHostCPUIdleLow (warning)", for panel descriptions."""
        return f"{self.bad.capitalize()} {self.text} fires {self.alert} ({self.severity})"


def _limits() -> dict[str, Limit]:
    limits = {}
    for alert in table.load().alerts.values():
        if alert.threshold is not None:
            t = alert.threshold
            limits[alert.name] = Limit(alert.name, t.value, t.bad, alert.severity, t.unit, t.human)
    return limits


LIMITS = _limits()
CPU_IDLE_LOW = LIMITS["HypervisorHostCPUIdleLow"]
MEMORY_HIGH = LIMITS["HypervisorHostMemoryPressure"]
DISK_QUEUE_HIGH = LIMITS["HypervisorDiskQueueHigh"]
PACKET_LOSS_HIGH = LIMITS["HypervisorPacketLossHigh"]
DATASTORE_FREE_LOW = LIMITS["HypervisorDatastoreFreeLow"]
CEPH_OSD_DOWN_HIGH = LIMITS["HypervisorCephOSDDownHigh"]

ALL = tuple(LIMITS.values())
