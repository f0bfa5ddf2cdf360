"""A libvirt peer that misbehaves (holds, resets, sends garbage, drips) over qemu+tcp: the
target reads down at its timeout while others are served, recovers once the peer answers
again even though the connections opened meanwhile stay held, and SIGTERM still exits."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from harness import exposition
from harness.exporter import Exporter
from harness.faults import MODES, fault_peer
from harness.libvirtd import Libvirtd

READ_ONLY_SOCKET = "/run/libvirt/libvirt-sock-ro"
TIMEOUT = 2


@pytest.mark.parametrize("mode", MODES)
def test_libvirt_target_survives_a_misbehaving_peer(
    libvirtd: Libvirtd, tmp_path: Path, mode: str
) -> None:
    with fault_peer(mode, upstream=READ_ONLY_SOCKET) as peer:
        config = {
            "targets": [
                {
                    "name": "remote",
                    "kind": "libvirt",
                    "timeout": TIMEOUT,
                    "uri": f"qemu+tcp://127.0.0.1:{peer.port}/system",
                },
                {"name": "demo", "kind": "libvirt", "uri": "test:///default"},
            ]
        }
        exporter = Exporter(config, tmp_path)
        try:
            for _ in range(3):
                started = time.monotonic()
                text = exporter.metrics()
                assert time.monotonic() - started < TIMEOUT + 2
                assert exposition.value(text, "hypervisor_target_up", target="remote") == 0
                assert exposition.value(text, "hypervisor_target_up", target="demo") == 1
            assert peer.accepted >= 1
            held = len(peer.held)
            peer.answer_again()
            answered = time.monotonic()
            deadline = answered + 30
            while time.monotonic() < deadline:
                text = exporter.metrics()
                if exposition.value(text, "hypervisor_target_up", target="remote") == 1:
                    break
                time.sleep(0.5)
            recovery = time.monotonic() - answered
            assert exposition.value(text, "hypervisor_target_up", target="remote") == 1, (
                exporter.log_tail(20)
            )
            assert len(peer.held) == held  # the old connections are still held open
            started = time.monotonic()
            exporter.signal(signal.SIGTERM)
            exporter.proc.wait(10)
            exit_time = time.monotonic() - started
        finally:
            exporter.stop()
    assert exit_time < 5
    print(
        f"libvirt {mode}: recovered {recovery:.1f}s after the peer answered, exit {exit_time:.2f}s"
    )
