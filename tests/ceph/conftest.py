"""One throwaway Ceph cluster for all of tests/ceph (it takes about 10 to 15 s to start).

Tests that break it (kill an OSD, fill it, stop the monitor) undo their fault before they
return, so the cluster is HEALTH_OK with all PGs active+clean between tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.collectors.ceph import COMMANDS
from harness.ceph import CephCluster
from tests.conftest import starts_peer

DATA = Path(__file__).resolve().parent / "data"
STATES = ("healthy", "osd-down", "full", "noout")


def recorded(state: str) -> dict[str, Any]:
    """The recorded mon_command replies of one cluster state (see tests/ceph/record.py)."""
    return {key: json.loads((DATA / f"{state}-{key}.json").read_text()) for key in COMMANDS}


# Package scope: the cluster (about 460 MiB RSS, 300 of it ceph-mgr) stops when tests/ceph
# is done instead of living on beside other areas' peers until the end of the session.
@pytest.fixture(scope="package")
@starts_peer
def ceph_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CephCluster]:
    with CephCluster(tmp_path_factory.mktemp("ceph")).running() as cluster:
        yield cluster
