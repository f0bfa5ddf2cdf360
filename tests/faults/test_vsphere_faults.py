"""A vCenter that misbehaves (holds, resets, sends garbage, drips): the target reads down at
its timeout while others are served, recovers once vCenter answers again although the
connections opened meanwhile stay held (pyVmomi's version probe included), and SIGTERM
still exits."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from harness import exposition
from harness.exporter import Exporter
from harness.faults import MODES, fault_peer
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
        exporter = Exporter(config, tmp_path / "exporter")
        try:
            for _ in range(3):
                started = time.monotonic()
                text = exporter.metrics()
                assert time.monotonic() - started < TIMEOUT + 2
                assert exposition.value(text, "hypervisor_target_up", target="vc") == 0
                assert exposition.value(text, "hypervisor_target_up", target="demo") == 1
            assert peer.accepted >= 1
            held = len(peer.held)
            peer.answer_again()
            answered = time.monotonic()
            while time.monotonic() < answered + 30:
                text = exporter.metrics()
                if exposition.value(text, "hypervisor_target_up", target="vc") == 1:
                    break
                time.sleep(0.5)
            recovery = time.monotonic() - answered
            assert exposition.value(text, "hypervisor_target_up", target="vc") == 1, (
                exporter.log_tail(20)
            )
            assert len(peer.held) == held
            started = time.monotonic()
            exporter.signal(signal.SIGTERM)
            exporter.proc.wait(10)
            exit_time = time.monotonic() - started
        finally:
            exporter.stop()
    assert exit_time < 5
    print(
        f"vsphere {mode}: recovered {recovery:.1f}s after vCenter answered, exit {exit_time:.2f}s"
    )
