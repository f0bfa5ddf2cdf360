"""One throwaway OpenStack for all of tests/openstack (about 90 s to start; see
docs/openstack.md). Package scope: its dozen services (about 2 GiB RSS) stop when
tests/openstack is done instead of living on beside other areas' peers.

Tests that break it (stop nova-compute or the Neutron agent, deactivate an image) undo
their fault before they return.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.collectors.openstack_samples import Answers
from harness.openstack import OpenStackCloud
from tests.conftest import starts_peer

DATA = Path(__file__).resolve().parent / "data"
STATES = ("steady", "host-boot", "compute-down", "agent-down")


def recorded(state: str) -> Answers:
    """The API answers of one recorded state of a real cloud (see tests/openstack/record.py)."""
    return Answers(**json.loads((DATA / f"{state}.json").read_text()))


@pytest.fixture(scope="package")
@starts_peer
def openstack_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenStackCloud]:
    with OpenStackCloud(tmp_path_factory.mktemp("openstack")).running() as cloud:
        cloud.seed()
        yield cloud
