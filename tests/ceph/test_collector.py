"""The collector in-process against the session's cluster: one connection per target, kept
across collections and replaced after a failure."""

from __future__ import annotations

import pytest

from exporter import families as fam
from exporter.blocking import WorkerPool
from exporter.collectors import create_collector
from exporter.collectors.ceph import CephCollector, CephTarget
from harness.ceph import CephCluster

pytestmark = pytest.mark.slow


async def test_connection_is_kept_then_reopened(ceph_cluster: CephCluster) -> None:
    pool = WorkerPool()
    collector = create_collector(
        CephTarget(name="ceph", conf=str(ceph_cluster.conf), timeout=2), pool.lane("ceph")
    )
    assert isinstance(collector, CephCollector)
    try:
        samples = await collector.collect()
        assert samples.value(fam.CEPH_OSDS_UP, target="ceph") == 3
        first = collector.client.current
        await collector.collect()
        assert collector.client.current is first, "a healthy connection must be reused"

        ceph_cluster.pause_mon()
        try:
            with pytest.raises(RuntimeError, match="ETIMEDOUT"):
                await collector.collect()
            assert collector.client.current is None, "a timed-out connection must be dropped"
        finally:
            ceph_cluster.resume_mon()
        samples = await collector.collect()
        assert samples.value(fam.CEPH_HEALTH_STATUS, target="ceph") is not None
        assert collector.client.current is not None and collector.client.current is not first
    finally:
        await collector.close()
        pool.shutdown()
