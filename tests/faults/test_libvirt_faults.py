"""A libvirt peer that misbehaves (holds, resets, sends garbage, drips) over qemu+tcp: the
target reads down at its timeout while others are served, recovers once the peer answers
again even though the connections opened meanwhile stay held, and SIGTERM still exits."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.exporter import Exporter
from harness.faults import MODES, down_then_recovered, fault_peer
from harness.libvirtd import Libvirtd
from harness.process import running

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
        with running(Exporter(config, tmp_path)) as exporter:
            course = down_then_recovered(exporter, "remote", TIMEOUT, [peer], peer.answer_again)
    print(
        f"libvirt {mode}: recovered {course.recovery:.1f}s after the peer answered,"
        f" exit {course.exit:.2f}s"
    )
