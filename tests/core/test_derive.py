"""The arithmetic every platform shares, on numbers worked out by hand."""

from __future__ import annotations

import pytest

from exporter.derive import (
    bounded_message,
    counter_delta,
    idle_ratio,
    packet_loss_ratio,
    queue_length,
    unique_vm_labels,
)


def test_counter_delta_is_growth_or_none_after_a_reset() -> None:
    assert counter_delta(150, 100) == 50
    assert counter_delta(100, 100) == 0
    assert counter_delta(7, 100) is None  # the VM or device restarted: no window


def test_packet_loss_ratio() -> None:
    assert packet_loss_ratio(999, 1) == pytest.approx(0.001)
    assert packet_loss_ratio(0, 5) == 1.0
    assert packet_loss_ratio(0, 0) == 0.0  # nothing moved: no loss seen


def test_queue_length_by_littles_law() -> None:
    # 30 s of request time summed over requests in a 10 s window: 3 outstanding on average.
    assert queue_length(30.0, 10.0) == 3.0
    assert queue_length(0.0, 10.0) == 0.0
    assert queue_length(5.0, 0.0) is None
    assert queue_length(5.0, -1.0) is None


def test_idle_ratio() -> None:
    assert idle_ratio({"user": 30, "kernel": 10, "idle": 60}) == pytest.approx(0.6)
    assert idle_ratio({"user": 50, "idle": 25, "iowait": 25}, ("idle", "iowait")) == 0.5
    assert idle_ratio({"user": 0, "idle": 0}) is None
    assert idle_ratio({"user": -10, "idle": 20}) == 1.0  # clamped to [0, 1]


def test_unique_vm_labels_only_mark_names_shared_on_one_host() -> None:
    labels = unique_vm_labels(
        [
            ("h1", "web", "vm-1"),
            ("h1", "web", "vm-2"),
            ("h2", "web", "vm-3"),
            ("h1", "db", "vm-4"),
        ]
    )
    assert labels == {"vm-1": "web [vm-1]", "vm-2": "web [vm-2]", "vm-3": "web", "vm-4": "db"}
    assert unique_vm_labels([]) == {}


def test_bounded_message() -> None:
    assert bounded_message("  disk\n  full\t") == "disk full"
    cut = bounded_message("x" * 300)
    assert len(cut) == 200 and cut.endswith("…")
    assert bounded_message("abcdef", limit=4) == "abc…"
    assert bounded_message("abcd", limit=4) == "abcd"
