"""OpenStack collector: collection time against the bare openstacksdk list calls.

    .venv/bin/python -m benchmarks.openstack [INSTANCES]

Starts the throwaway OpenStack of the tests (harness/openstack.py: Nova with its fake
driver on MariaDB) with COMPUTES compute hosts, boots INSTANCES (default 100; on this 2-core
machine about 0.9 a second, so 1,000 take 19 minutes) instances in multiple-create batches,
stops one in ten through the API (so the collection also asks Glance about their image),
then in alternating rounds times (a) what a script would do with openstacksdk to read the
same facts: `compute.servers(details=True, all_projects=True)`, `compute.services()`,
`compute.hypervisors(details=True)` and `network.agents()`, each listed to the end, on a
connected session, and (b) one full collection through the exporter's collector (worker
lane, the paged REST calls, samples) and rendering of its exposition. Medians and their
ratio, the pure translation alone, and decoding plus translation of 1,000 instances
(recorded answers repeated).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exporter.blocking import WorkerPool
from exporter.collectors.openstack import OpenStackCollector, OpenStackTarget
from exporter.collectors.openstack_samples import Answers, collection_samples
from exporter.metrics import render
from exporter.targets import Secret
from harness.openstack import OpenStackCloud

ROUNDS = 10
BATCH = 100  # instances per multiple create
# Compute hosts the instances are spread over. On every build a host's resource tracker
# reads the Placement allocations of each of its instances, so one host of 1,000 instances
# builds in quadratic time (300 took 16 minutes, the next 100 nearly 7); five hosts of 200,
# as a real cloud spreads them, do not.
COMPUTES = 5


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bare_calls(conn: Any) -> None:
    """The facts of one collection the way openstacksdk hands them to a script."""
    list(conn.compute.servers(details=True, all_projects=True))
    list(conn.compute.services())
    list(conn.compute.hypervisors(details=True))
    list(conn.network.agents())


def large_cloud_translation(instances: int = 1000, rounds: int = 20) -> float:
    """Median seconds to decode and translate the answers of a cloud with `instances`
    instances: the recorded steady state's servers repeated under new ids and names (this
    machine boots about 0.4 instances a second through the real Nova, so a real thousand
    takes 40 minutes)."""
    data = Path(__file__).resolve().parent.parent / "tests" / "openstack" / "data"
    answers = json.loads((data / "steady.json").read_text())
    template = answers["servers"]
    answers["servers"] = [
        {
            **template[i % len(template)],
            "id": f"{i:08d}-0000-4000-8000-000000000000",
            "name": f"vm-{i}",
        }
        for i in range(instances)
    ]
    raw = json.dumps(answers).encode()

    def translate() -> None:
        render([collection_samples("os", Answers(**json.loads(raw)))])

    return statistics.median(timed(translate) for _ in range(rounds))


def main() -> None:
    instances = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    with tempfile.TemporaryDirectory(prefix="openstack-bench-") as tmp:
        cloud = OpenStackCloud(Path(tmp), sync_power_state_interval=600)
        cloud.start()
        try:
            for n in range(2, COMPUTES + 1):
                cloud.add_compute(f"compute{n}")
            cloud.seed()
            booted = time.monotonic()
            ids: list[str] = []
            for batch in range(0, instances, BATCH):
                ids += cloud.create_server(
                    f"bench{batch // BATCH}", count=min(BATCH, instances - batch)
                )
                print(
                    f"{len(ids)} instances active after {time.monotonic() - booted:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
            boot_seconds = time.monotonic() - booted
            for server_id in ids[::10]:
                cloud.stop_server(server_id)
            conn = cloud.connect()
            results = asyncio.run(measure(cloud, conn))
            conn.close()
        finally:
            cloud.stop()
    bare, ours, translate, series = results
    b, o, t = (statistics.median(x) * 1000 for x in (bare, ours, translate))
    print(
        f"## OpenStack (Zed, fake driver; cloud started in {cloud.start_seconds:.0f} s,"
        f" {instances} instances booted in {boot_seconds:.0f} s)\n"
    )
    print("| what | median |")
    print("|---|---:|")
    what = "bare openstacksdk lists (servers, services, hypervisors, agents)"
    print(f"| {what}, {ROUNDS} rounds | {b:.0f} ms |")
    print(f"| full collection + render through the exporter's collector | {o:.0f} ms |")
    print(f"| answers to samples + render alone (pure, {series} series) | {t:.1f} ms |")
    large = large_cloud_translation() * 1000
    what = "decoding + samples + render, 1,000 instances (recorded answers repeated)"
    print(f"| {what} | {large:.0f} ms |")
    print(f"\nRatio collection / bare calls: {o / b:.2f}x")


async def measure(
    cloud: OpenStackCloud, conn: Any
) -> tuple[list[float], list[float], list[float], int]:
    secret = Secret("password", cloud.password)
    auth = cloud.auth
    target = OpenStackTarget(
        name="os",
        auth_url=auth["auth_url"],
        username=auth["username"],
        password=secret,
        project_name=auth["project_name"],
        region_name="RegionOne",
        timeout=60,
    )
    pool = WorkerPool()
    collector = OpenStackCollector(target, pool.lane("os", 1))
    answers = collector.read()  # connects and authenticates before timing
    bare_calls(conn)
    bare: list[float] = []
    ours: list[float] = []
    translate: list[float] = []
    try:
        for _ in range(ROUNDS):  # alternate so both see the same cloud and load
            bare.append(timed(lambda: bare_calls(conn)))
            started = time.perf_counter()
            render([await collector.collect()])
            ours.append(time.perf_counter() - started)
            translate.append(timed(lambda: render([collection_samples("os", answers)])))
    finally:
        await collector.close()
        pool.shutdown()
    return bare, ours, translate, len(collection_samples("os", answers))


if __name__ == "__main__":
    main()
