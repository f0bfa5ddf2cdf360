"""Records tests/vsphere/data/lab.json: what the collector reads from the simulator after
the scenarios of tests/vsphere/scenario.py. Run again when the collector reads new
properties or counters:

    .venv/bin/python -m tests.vsphere.record
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

from exporter.blocking import WorkerPool
from exporter.collectors.vsphere.collector import VsphereCollector
from exporter.config import parse_config
from harness.vcsim import Vcsim
from tests.vsphere import scenario

OUT = Path(__file__).parent / "data" / "lab.json"
HOST_BOOT = 1_760_000_000.0


def prepare(sim: Vcsim) -> None:
    """The recorded lab: autostart matrix, injected load, a duplicate VM name, VMware
    Tools running and not, a host in maintenance and one not responding."""
    scenario.autostart_matrix(sim)
    scenario.inject_load(sim)
    scenario.duplicate_name(sim, "DC0_H1_VM3", "DC0_H1_VM2")
    sim.set_vm("DC0_H0_VM0", tools_running=True)
    sim.set_vm("DC0_H0_VM1", tools_running=False)
    sim.set_host("DC0_H0", boot_time=HOST_BOOT)
    sim.set_host("DC0_H1", maintenance=True)
    sim.set_host("DC0_H2", connection_state="notResponding")


async def read(sim: Vcsim, workdir: Path) -> dict[str, object]:
    config = parse_config(json.dumps({"targets": [sim.target("lab")]}), "record")
    lane = WorkerPool().lane("lab", 2)
    collector = VsphereCollector(config.targets[0], lane)  # type: ignore[arg-type]
    try:
        snapshot = await collector.read_snapshot()
    finally:
        await collector.close()
    return snapshot.to_dict()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sim = Vcsim(Path(tmp), clusters=0, standalone=3, vms=6)
        try:
            prepare(sim)
            data = asyncio.run(read(sim, Path(tmp)))
        finally:
            sim.stop()
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
