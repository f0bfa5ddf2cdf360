"""cephx: the target's `user` and `keyring` against a monitor with authentication on.

A monitor-only cluster (no OSDs: what the collector reads comes from the monitors alone)
starts in about a second; it proves that read-only monitor access is all the exporter
needs, and that a bad key gives an error on-call can act on without the key leaking.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import exposition
from harness.ceph import CephCluster
from harness.exporter import Exporter
from harness.process import running
from tests.conftest import starts_peer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
@starts_peer
def cephx_monitor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CephCluster]:
    with CephCluster(tmp_path_factory.mktemp("cephx"), osds=0, cephx=True).running() as cluster:
        yield cluster


def test_read_only_client_and_bad_keys(cephx_monitor: CephCluster, tmp_path: Path) -> None:
    good = cephx_monitor.add_client("hypervisor-exporter", "mon", "allow r")
    # Same client name, another key: what a stale keyring after `ceph auth rotate` looks like.
    stale = tmp_path / "stale.keyring"
    subprocess.run(
        [
            "ceph-authtool",
            "--create-keyring",
            str(stale),
            "--gen-key",
            "-n",
            "client.hypervisor-exporter",
        ],
        check=True,
        capture_output=True,
    )
    conf = str(cephx_monitor.conf)
    config = {
        "targets": [
            {
                "name": "good",
                "kind": "ceph",
                "conf": conf,
                "user": "hypervisor-exporter",
                "keyring": str(good),
                "timeout": 5,
            },
            {
                "name": "stale",
                "kind": "ceph",
                "conf": conf,
                "user": "hypervisor-exporter",
                "keyring": str(stale),
                "timeout": 5,
            },
            # No keyring given, and none in the conf or Ceph's default places.
            {"name": "nokey", "kind": "ceph", "conf": conf, "user": "hypervisor-exporter"},
            {
                "name": "unknown",
                "kind": "ceph",
                "conf": conf,
                "user": "nobody",
                "keyring": str(good),
                "timeout": 5,
            },
        ]
    }
    with running(Exporter(config, tmp_path)) as exporter:
        text = exporter.metrics()
        _, page = exporter.get("/")
    up = {
        t: exposition.value(text, "hypervisor_target_up", target=t)
        for t in ("good", "stale", "nokey", "unknown")
    }
    assert up == {"good": 1, "stale": 0, "nokey": 0, "unknown": 0}
    assert exposition.value(text, "hypervisor_ceph_health_status", target="good") == 0
    assert exposition.value(text, "hypervisor_ceph_osds", target="good") == 0
    assert exposition.value(text, "hypervisor_ceph_monitors_in_quorum", target="good") == 1
    assert "the monitors refused client.hypervisor-exporter" in page, page
    assert f"does not match the one in {stale}" in page
    assert "the monitors refused client.nobody" in page
    assert "no key for client.hypervisor-exporter found in the keyring setting" in page
    log = exporter.log_path.read_text()
    assert "the monitors refused client.nobody" in log
    for keyring in (good, stale):
        key = keyring.read_text().split("key = ")[1].split()[0]
        assert key not in log and key not in page and key not in text
