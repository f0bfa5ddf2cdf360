"""Records tests/vsphere/data/lab.json: what the collector reads from the simulator after
the scenarios of tests/vsphere/scenario.py, and queryperf-csv.xml: the raw QueryPerf
answer (csv format) its `perf` part is read from. Run again when the collector reads new
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
from exporter.collectors.vsphere.samples import perf_targets
from exporter.collectors.vsphere.session import query_perf_answer
from exporter.collectors.vsphere.wire import parse_perf
from exporter.config import parse_config
from harness.vcsim import Vcsim
from tests.vsphere import scenario

OUT = Path(__file__).parent / "data" / "lab.json"
PERF_OUT = OUT.parent / "queryperf-csv.xml"
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


async def read(sim: Vcsim, workdir: Path) -> tuple[dict[str, object], bytes]:
    """The collector's snapshot, its perf part replaced by what one recorded QueryPerf
    answer for every entity it queries reads as (one answer, so the two agree exactly)."""
    config = parse_config(json.dumps({"targets": [sim.target("lab")]}), "record")
    lane = WorkerPool().lane("lab", 2)
    collector = VsphereCollector(config.targets[0], lane)  # type: ignore[arg-type]
    try:
        snapshot = await collector.read_snapshot()
        hosts, vms = perf_targets(snapshot)
        answer = await lane.run(query_perf_answer, collector.session, hosts, vms, vms)
        assert answer is not None
        snapshot.perf = parse_perf(answer, collector.session.counter_names)
    finally:
        await collector.close()
    return snapshot.to_dict(), answer


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sim = Vcsim(Path(tmp), clusters=0, standalone=3, vms=6)
        try:
            prepare(sim)
            data, answer = asyncio.run(read(sim, Path(tmp)))
        finally:
            sim.stop()
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    PERF_OUT.write_bytes(answer)
    print(f"wrote {OUT} and {PERF_OUT}")


if __name__ == "__main__":
    main()
