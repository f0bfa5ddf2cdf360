"""Numbers derived the same way on every platform: windows between samples, label names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def counter_delta(current: float, previous: float) -> float | None:
    """Growth of a counter, or None when it went backwards (device or VM restarted)."""
    delta = current - previous
    return delta if delta >= 0 else None


def rate(current: float, previous: float, seconds: float) -> float | None:
    """Per-second growth of a counter over a window; None after a reset or without a window."""
    delta = counter_delta(current, previous)
    if delta is None or seconds <= 0:
        return None
    return delta / seconds


def usage_ratio(used_seconds: float, wall_seconds: float, capacity: float) -> float | None:
    """Share of `capacity` CPUs busy over a window, 0..1 (capped: hypervisor threads outside
    the vCPUs can push the raw figure over 1)."""
    if wall_seconds <= 0 or capacity <= 0 or used_seconds < 0:
        return None
    return min(1.0, used_seconds / (wall_seconds * capacity))


def packet_loss_ratio(packets: float, dropped: float) -> float:
    """dropped / (packets + dropped) over a window; 0 when nothing moved (no loss seen)."""
    total = packets + dropped
    return dropped / total if total > 0 else 0.0


def queue_length(busy_time: float, wall_time: float) -> float | None:
    """Average outstanding requests by Little's law: time requests spent in flight, summed
    over requests, divided by the wall time of the window (iostat's aqu-sz)."""
    if wall_time <= 0:
        return None
    return busy_time / wall_time


def idle_ratio(deltas: Mapping[str, float], idle_keys: Iterable[str] = ("idle",)) -> float | None:
    """Share of CPU time spent idle among the given time counters' growth."""
    total = sum(deltas.values())
    if total <= 0:
        return None
    return min(1.0, max(0.0, sum(deltas.get(k, 0.0) for k in idle_keys) / total))


def unique_vm_labels(vms: Iterable[tuple[str, str, str]]) -> dict[str, str]:
    """Maps each VM id to its `vm` label: the name, or where two VMs on one host share a
    name, the name followed by the platform's stable id in brackets, so no series repeats.

    `vms` yields (host, name, id) with ids unique per target.
    """
    items = list(vms)
    count: dict[tuple[str, str], int] = {}
    for host, name, _ in items:
        count[(host, name)] = count.get((host, name), 0) + 1
    return {
        vm_id: name if count[(host, name)] == 1 else f"{name} [{vm_id}]"
        for host, name, vm_id in items
    }


MESSAGE_MAX = 200  # characters of a platform's message in a label value


def bounded_message(text: str, limit: int = MESSAGE_MAX) -> str:
    """A platform's message as a label value: whitespace collapsed, cut to `limit`
    characters (an ellipsis marks a cut), so one label cannot carry a stack trace or a log."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
