"""Failed VM starts the platforms recorded, kept per VM for a bounded window.

libvirt and vSphere find out about failed starts in different ways (a log line, a
lifecycle event, a state change; vCenter's event history), but both keep only the latest
failure per VM, drop it once it is older than the target's window, and export it the same
way: `hypervisor_vm_start_failure_timestamp_seconds` and `hypervisor_vm_start_failure_info`.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from exporter import families as fam
from exporter.derive import bounded_message
from exporter.metrics import SampleSet
from exporter.targets import Problem

DEFAULT_WINDOW = 24 * 3600.0  # seconds: the targets' start_failure_window
MAX_WINDOW = 30 * 24 * 3600.0

K = TypeVar("K", bound=Hashable)


def check_window(window: float, problem: Problem) -> None:
    """The config check of a target's `start_failure_window`."""
    if not 0 < window <= MAX_WINDOW:
        problem(
            "start_failure_window",
            f"must be a number of seconds in (0, {MAX_WINDOW:.0f}] (30 days), got {window}",
        )


@dataclass(frozen=True)
class StartFailure:
    timestamp: float  # Unix seconds
    reason: str


class StartFailures(Generic[K]):
    """The latest failure per VM key (a libvirt UUID, a vSphere managed object id)."""

    def __init__(self, window: float = DEFAULT_WINDOW) -> None:
        self.window = window
        self._latest: dict[K, StartFailure] = {}

    def record(self, key: K, failure: StartFailure) -> None:
        """Keeps `failure` unless a later one is already recorded for the VM."""
        known = self._latest.get(key)
        if known is None or failure.timestamp >= known.timestamp:
            self._latest[key] = StartFailure(failure.timestamp, bounded_message(failure.reason))

    def get(self, key: K) -> StartFailure | None:
        return self._latest.get(key)

    def expire(self, now: float) -> None:
        """Forgets failures older than the window."""
        oldest = now - self.window
        for key in [k for k, f in self._latest.items() if f.timestamp < oldest]:
            del self._latest[key]

    def __len__(self) -> int:
        return len(self._latest)


def add_samples(out: SampleSet, failure: StartFailure | None, **labels: str) -> None:
    """The two series of one VM's recorded failure (nothing without one)."""
    if failure is None:
        return
    out.add(fam.VM_START_FAILURE_TIMESTAMP, failure.timestamp, **labels)
    out.add(fam.VM_START_FAILURE_INFO, 1, **labels, reason=failure.reason)
