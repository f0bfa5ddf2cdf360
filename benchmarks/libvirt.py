"""libvirt collector: collection time against the bare bulk calls it makes, and RSS growth.

    .venv/bin/python -m benchmarks.libvirt [--via-libvirtd | --libvirtd-only]

On libvirt's test driver with 10, 100 and 500 domains: the median time of one full
collection (worker thread, snapshot, samples and rendering) against the median time of the
same libvirt calls made directly, as a ratio. Then the exporter process's RSS after 10 and
after 1,000 scrapes of /metrics. With `--via-libvirtd` the same node is served by the
machine's libvirtd (`test+unix://`), so every call is a round trip as on a real host.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import libvirt

from exporter.blocking import WorkerPool
from exporter.collectors.libvirt import LibvirtCollector, LibvirtTarget
from exporter.metrics import render
from harness.exporter import Exporter
from harness.libvirt_node import node_xml
from harness.libvirtd import exclusive_libvirtd

RUNS = 30


def bare_calls(conn: libvirt.virConnect) -> None:
    """The libvirt calls one collection makes, with nothing around them: the bulk calls,
    each domain's XML, the per-domain calls the test driver needs for the groups its bulk
    stats lack (virDomainGetInfo; these domains have no disks or NICs), pools and volumes,
    node info."""
    {d.UUIDString() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_AUTOSTART)}
    for dom, _stats in conn.getAllDomainStats(
        libvirt.VIR_DOMAIN_STATS_STATE
        | libvirt.VIR_DOMAIN_STATS_BALLOON
        | libvirt.VIR_DOMAIN_STATS_VCPU
        | libvirt.VIR_DOMAIN_STATS_BLOCK
        | libvirt.VIR_DOMAIN_STATS_INTERFACE,
        libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT,
    ):
        dom.name(), dom.UUIDString()
        dom.XMLDesc(0)
        dom.info()
    for pool in conn.listAllStoragePools():
        pool.name(), pool.info()
        for vol in pool.listAllVolumes():
            vol.name(), vol.path(), vol.info()
    conn.getCPUStats(-1, 0)
    conn.getInfo()


def median_seconds(fn: object, runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            asyncio.run(result)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def domains(count: int) -> dict[str, int]:
    states = [1, 1, 1, 5, 3]  # mostly running, some off and paused
    return {f"vm{i:04d}": states[i % len(states)] for i in range(count)}


def collection_ratio(count: int, tmp: Path, scheme: str = "test") -> tuple[float, float]:
    """(bare, ours) median seconds; scheme `test+unix` goes through libvirtd. The bare
    calls and the collection alternate round by round, so both see the same machine load
    (measured one block after the other, the ratio through libvirtd swung from 0.8x to
    2.5x between runs of the same code on the shared machine)."""
    path = tmp / f"node-{count}.xml"
    path.write_text(node_xml(domains(count)))
    uri = f"{scheme}://{path}"
    conn = libvirt.open(uri)

    async def alternate() -> tuple[list[float], list[float]]:
        collector = LibvirtCollector(
            LibvirtTarget(name="b", uri=uri), WorkerPool().lane("b"), connect=lambda _: conn
        )
        render([await collector.collect()])  # warm-up: the next ones have a previous snapshot
        bare, ours = [], []
        for _ in range(RUNS):
            started = time.perf_counter()
            bare_calls(conn)
            bare.append(time.perf_counter() - started)
            started = time.perf_counter()
            render([await collector.collect()])
            ours.append(time.perf_counter() - started)
        return bare, ours

    bare, ours = asyncio.run(alternate())
    conn.close()
    return statistics.median(bare), statistics.median(ours)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def rss_growth(tmp: Path, scrapes: int = 1000) -> tuple[int, int]:
    path = tmp / "node-rss.xml"
    path.write_text(node_xml(domains(100)))
    exporter = Exporter(
        {"targets": [{"name": "b", "kind": "libvirt", "uri": f"test://{path}"}]}, tmp
    )
    try:
        after_10 = 0
        for i in range(1, scrapes + 1):
            with urllib.request.urlopen(exporter.url + "/metrics", timeout=30) as response:
                response.read()
            if i == 10:
                after_10 = rss_kib(exporter.proc.pid)
        return after_10, rss_kib(exporter.proc.pid)
    finally:
        exporter.stop()


def main() -> None:
    libvirt.registerErrorHandler(lambda _c, _e: None, None)
    if "--libvirtd-only" not in sys.argv:
        in_process()
    if "--via-libvirtd" in sys.argv or "--libvirtd-only" in sys.argv:
        via_libvirtd()


def in_process() -> None:
    print("## libvirt (test driver)\n")
    print("| domains | bare libvirt calls | full collection + render | ratio |")
    print("|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for count in (10, 100, 500):
            bare, ours = collection_ratio(count, Path(tmp))
            print(f"| {count} | {bare * 1000:.2f} ms | {ours * 1000:.2f} ms | {ours / bare:.2f}x |")
        after_10, after_1000 = rss_growth(Path(tmp))
    print(
        f"\nExporter RSS with 100 domains: {after_10 / 1024:.1f} MiB after 10 scrapes,"
        f" {after_1000 / 1024:.1f} MiB after 1,000 ({(after_1000 - after_10) / 1024:+.1f} MiB)."
    )


def via_libvirtd() -> None:
    print("\n## libvirt (test driver through libvirtd, test+unix://)\n")
    print("| domains | bare libvirt calls | full collection + render | ratio |")
    print("|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp, exclusive_libvirtd(Path(tmp)):
        for count in (10, 100, 500):
            bare, ours = collection_ratio(count, Path(tmp), "test+unix")
            print(f"| {count} | {bare * 1000:.2f} ms | {ours * 1000:.2f} ms | {ours / bare:.2f}x |")


if __name__ == "__main__":
    main()
