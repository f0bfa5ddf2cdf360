"""One throwaway OpenStack for all of tests/openstack (about 90 s to start; see
docs/openstack.md). Package scope: its dozen services (about 2 GiB RSS) stop when
tests/openstack is done instead of living on beside other areas' peers.

Tests that break it (stop nova-compute or the Neutron agent, deactivate an image) undo
their fault before they return.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.openstack import OpenStackCloud
from tests.conftest import starts_peer


@pytest.fixture(scope="package")
@starts_peer
def openstack_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenStackCloud]:
    cloud = OpenStackCloud(tmp_path_factory.mktemp("openstack"))
    cloud.start()
    try:
        cloud.seed()
        yield cloud
    finally:
        cloud.stop()
