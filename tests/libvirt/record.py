"""Records two libvirt snapshots from a real libvirtd with QEMU for the unit tests.

    .venv/bin/python -m tests.libvirt.record tests/libvirt/data/qemu-snapshots.json

Starts its own libvirtd (see harness/libvirtd.py), one running and one broken domain,
and writes the snapshots the collector read, one second apart, as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

from exporter.collectors.libvirt import Host, open_connection, read_snapshot
from harness.libvirtd import exclusive_libvirtd


def main(out: str) -> None:
    with tempfile.TemporaryDirectory() as tmp, exclusive_libvirtd(Path(tmp)) as daemon:
        daemon.define_domain("web01", autostart=True, start=True)
        daemon.define_domain("db01", autostart=True).unlink()
        host = Host.connect(open_connection(daemon.uri))
        snapshots = []
        for _ in range(2):
            snapshots.append(dataclasses.asdict(read_snapshot(host, local=True)))
            time.sleep(1)
        host.conn.close()
    Path(out).write_text(json.dumps(snapshots, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
