"""A vCenter that misbehaves (holds, resets, sends garbage, drips): the target reads down at
its timeout while others are served, recovers once vCenter answers again although the
connections opened meanwhile stay held (pyVmomi's version probe included), and SIGTERM
still exits."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.exporter import Exporter
from harness.faults import MODES, down_then_recovered, fault_peer
from harness.process import running
from harness.vcsim import Vcsim

TIMEOUT = 2


@pytest.mark.parametrize("mode", MODES)
def test_vsphere_target_survives_a_misbehaving_vcenter(
    vcsim: Vcsim, tmp_path: Path, mode: str
) -> None:
    host, port = vcsim.address.rsplit(":", 1)
    with fault_peer(mode, upstream=(host, int(port))) as peer:
        config = {
            "targets": [
                vcsim.target(host=f"127.0.0.1:{peer.port}", timeout=TIMEOUT),
                {"name": "demo", "kind": "libvirt", "uri": "test:///default"},
            ]
        }
        with running(Exporter(config, tmp_path / "exporter")) as exporter:
            course = down_then_recovered(exporter, "vc", TIMEOUT, [peer], peer.answer_again)
    print(
        f"vsphere {mode}: recovered {course.recovery:.1f}s after vCenter answered,"
        f" exit {course.exit:.2f}s"
    )
