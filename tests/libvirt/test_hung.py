"""A libvirt peer that accepts connections and never answers must not hold anything up."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import exposition
from harness.exporter import Exporter


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A TCP port that accepts and then says nothing, like a hung libvirtd."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


# About 15 s of real waiting: three scrapes cut at the 2 s timeout, then the exporter's
# shutdown gives the hung connection its close timeout.
@pytest.mark.slow
def test_hung_connection_is_cut_at_its_timeout_and_others_are_served(
    silent_listener: int, tmp_path: Path
) -> None:
    config = {
        "targets": [
            {
                "name": "hung",
                "kind": "libvirt",
                "timeout": 2,
                "uri": f"qemu+tcp://127.0.0.1:{silent_listener}/system",
            },
            {"name": "demo", "kind": "libvirt", "uri": "test:///default"},
        ]
    }
    exporter = Exporter(config, tmp_path)
    try:
        for scrape in range(1, 4):
            text = exporter.metrics()
            assert exposition.value(text, "hypervisor_target_up", target="hung") == 0
            assert exposition.value(text, "hypervisor_target_up", target="demo") == 1
            assert (
                exposition.value(
                    text, "hypervisor_vm_power_state", target="demo", vm="test", state="running"
                )
                == 1
            )
            duration = exposition.value(
                text, "hypervisor_target_scrape_duration_seconds", target="hung"
            )
            assert duration == pytest.approx(2, abs=0.5)  # cut at the timeout, not later
            errors = exposition.value(
                text, "hypervisor_target_collection_errors_total", target="hung"
            )
            assert errors == scrape
        log = exporter.log_tail(100)
        assert "collection timed out after 2s" in log
        # Later scrapes do not start more threads on the hung peer: they report the call
        # that is still blocked instead.
        assert "has been blocked for" in log
    finally:
        exporter.stop()
