"""A Ceph monitor address that misbehaves (holds, resets, sends garbage, drips) on both of
its ports: the target reads down at its timeout while others are served, recovers once the
real monitor answers there again although the connections accepted meanwhile stay held,
and SIGTERM still exits."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.ceph import CephCluster
from harness.exporter import Exporter
from harness.faults import MODES, FaultPeer, down_then_recovered
from harness.process import running
from tests.conftest import starts_peer

TIMEOUT = 3


# Module scope, not tests/ceph's package-scoped cluster: this one (about 460 MiB) stops
# when these tests are done instead of living on through the rest of tests/faults.
@pytest.fixture(scope="module")
@starts_peer
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CephCluster]:
    with CephCluster(tmp_path_factory.mktemp("ceph-faults")).running() as ceph:
        yield ceph


@pytest.mark.parametrize("mode", MODES)
def test_ceph_target_survives_a_misbehaving_monitor_address(
    cluster: CephCluster, tmp_path: Path, mode: str
) -> None:
    cluster.stop_mon()
    peers = [FaultPeer(mode, port=port) for port in (cluster.v2_port, cluster.v1_port)]
    mon_started = False

    def monitor_answers_again() -> None:
        nonlocal mon_started
        for peer in peers:
            peer.stop_listening()  # frees the ports; the held connections stay open
        cluster.start_mon()
        mon_started = True

    try:
        config = {
            "targets": [
                {"name": "ceph", "kind": "ceph", "conf": str(cluster.conf), "timeout": TIMEOUT},
                {"name": "demo", "kind": "libvirt", "uri": "test:///default"},
            ]
        }
        with running(Exporter(config, tmp_path)) as exporter:
            course = down_then_recovered(
                exporter, "ceph", TIMEOUT, peers, monitor_answers_again, recovery_within=60
            )
    finally:
        for peer in peers:
            peer.close()
        if not mon_started:  # for the next mode, when this one failed early
            with contextlib.suppress(Exception):
                cluster.start_mon()
    print(
        f"ceph {mode}: recovered {course.recovery:.1f}s after the monitor answered,"
        f" exit {course.exit:.2f}s"
    )
