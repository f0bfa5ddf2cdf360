"""Fixtures for the iSCSI tests: sysfs-shaped trees and the collector's view of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exporter.collectors.iscsi import Snapshot, read_snapshot, snapshot_samples
from exporter.metrics import SampleSet
from harness.iscsi_sysfs import build_tree, standard_sessions

DATA = Path(__file__).parent / "data"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """LOGGED_IN, FAILED and FREE sessions on several portals (see standard_sessions)."""
    return build_tree(tmp_path / "sys", standard_sessions())


def collect(root: Path, target: str = "iscsi-local") -> SampleSet:
    return snapshot_samples(target, read_snapshot(str(root)))


def load_snapshot(name: str) -> Snapshot:
    """A recorded snapshot from tests/iscsi/data (keys starting with _ are notes)."""
    raw = json.loads((DATA / name).read_text())
    return Snapshot(raw["root"], raw["sessions"], raw["connections"])
