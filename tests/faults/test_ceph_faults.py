"""A Ceph monitor address that misbehaves (holds, resets, sends garbage, drips) on both of
its ports: the target reads down at its timeout while others are served, recovers once the
real monitor answers there again although the connections accepted meanwhile stay held,
and SIGTERM still exits."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import exposition
from harness.ceph import CephCluster
from harness.exporter import Exporter
from harness.faults import MODES, FaultPeer
from tests.conftest import starts_peer

TIMEOUT = 3


@pytest.fixture(scope="module")
@starts_peer
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CephCluster]:
    ceph = CephCluster(tmp_path_factory.mktemp("ceph-faults"))
    ceph.start()
    try:
        yield ceph
    finally:
        ceph.stop()


@pytest.mark.parametrize("mode", MODES)
def test_ceph_target_survives_a_misbehaving_monitor_address(
    cluster: CephCluster, tmp_path: Path, mode: str
) -> None:
    cluster.stop_mon()
    peers = [FaultPeer(mode, port=port) for port in (cluster.v2_port, cluster.v1_port)]
    exporter: Exporter | None = None
    mon_started = False
    try:
        config = {
            "targets": [
                {"name": "ceph", "kind": "ceph", "conf": str(cluster.conf), "timeout": TIMEOUT},
                {"name": "demo", "kind": "libvirt", "uri": "test:///default"},
            ]
        }
        exporter = Exporter(config, tmp_path)
        for _ in range(3):
            started = time.monotonic()
            text = exporter.metrics()
            assert time.monotonic() - started < TIMEOUT + 2
            assert exposition.value(text, "hypervisor_target_up", target="ceph") == 0
            assert exposition.value(text, "hypervisor_target_up", target="demo") == 1
        assert sum(peer.accepted for peer in peers) >= 1
        for peer in peers:
            peer.stop_listening()  # the held connections stay open
        cluster.start_mon()
        mon_started = True
        answered = time.monotonic()
        while time.monotonic() < answered + 60:
            text = exporter.metrics()
            if exposition.value(text, "hypervisor_target_up", target="ceph") == 1:
                break
            time.sleep(0.5)
        recovery = time.monotonic() - answered
        assert exposition.value(text, "hypervisor_target_up", target="ceph") == 1, (
            exporter.log_tail(20)
        )
        started = time.monotonic()
        exporter.signal(signal.SIGTERM)
        exporter.proc.wait(10)
        exit_time = time.monotonic() - started
    finally:
        if exporter is not None:
            exporter.stop()
        for peer in peers:
            peer.close()
        if not mon_started:  # for the next mode, when this one failed early
            with contextlib.suppress(Exception):
                cluster.start_mon()
    assert exit_time < 5
    print(
        f"ceph {mode}: recovered {recovery:.1f}s after the monitor answered, exit {exit_time:.2f}s"
    )
