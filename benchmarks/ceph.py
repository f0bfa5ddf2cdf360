"""Ceph collector: collection time against the bare mon_command calls it makes.

    .venv/bin/python -m benchmarks.ceph

Starts a throwaway cluster (1 mon, 1 mgr, 3 memstore OSDs; harness/ceph.py), then in
alternating rounds times (a) the three mon_command calls of one collection (status, health
detail, osd dump) on a connected librados client with nothing around them, and (b) one
full collection through the exporter's collector (worker lane, JSON decoding, samples) and
rendering of its exposition. Medians and their ratio; the `ceph` CLI asking the same three
commands is shown for scale (what a shell-script exporter pays per scrape).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rados

from exporter.blocking import WorkerPool
from exporter.collectors.ceph import COMMANDS, CephCollector, CephTarget, cluster_samples
from exporter.metrics import render
from harness.ceph import CephCluster

ROUNDS = 200
CLI_ROUNDS = 10


def bare_calls(client: Any) -> None:
    """The monitor round trips of one collection, replies left undecoded."""
    for command in COMMANDS.values():
        ret, _, status = client.mon_command(json.dumps(command), b"")
        assert ret == 0, status


def large_cluster_translation(osds: int = 1000, rounds: int = 20) -> float:
    """Median seconds to decode and translate replies of a cluster with `osds` OSDs: the
    recorded osd dump with its OSD entries repeated under new ids (no such cluster here)."""
    data = Path(__file__).resolve().parent.parent / "tests" / "ceph" / "data"
    replies = {key: json.loads((data / f"osd-down-{key}.json").read_text()) for key in COMMANDS}
    template = replies["osd_dump"]["osds"]
    replies["osd_dump"]["osds"] = [{**template[i % len(template)], "osd": i} for i in range(osds)]
    raw = {key: json.dumps(reply).encode() for key, reply in replies.items()}

    def translate() -> None:
        render([cluster_samples("ceph", {key: json.loads(text) for key, text in raw.items()})])

    return statistics.median(timed(translate) for _ in range(rounds))


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ceph-bench-") as tmp:
        cluster = CephCluster(Path(tmp))
        cluster.start()
        client = rados.Rados(conffile=str(cluster.conf), rados_id="admin")
        try:
            client.connect()
            results = asyncio.run(measure(cluster, client))
            cli = [
                timed(
                    lambda: [
                        cluster.ceph(*c["prefix"].split(), "--format", "json")
                        for c in COMMANDS.values()
                    ]
                )
                for _ in range(CLI_ROUNDS)
            ]
        finally:
            client.shutdown()
            cluster.stop()
    bare, ours, translate, decoded = results
    b, o, t, d, c = (statistics.median(x) * 1000 for x in (bare, ours, translate, decoded, cli))
    print(
        f"## Ceph (Pacific 16.2, 1 mon, 3 memstore OSDs on loopback; cluster started in"
        f" {cluster.start_seconds:.1f} s)\n"
    )
    print("| what | median |")
    print("|---|---:|")
    print(
        f"| bare mon_command x3 (status, health detail, osd dump), {ROUNDS} rounds | {b:.2f} ms |"
    )
    print(f"| full collection + render through the exporter's collector | {o:.2f} ms |")
    print(f"| the collector's read() in the caller's thread (calls + JSON decoding) | {d:.2f} ms |")
    print(f"| JSON to samples + render alone (pure) | {t:.3f} ms |")
    print(f"| `ceph` CLI for the same 3 commands, {CLI_ROUNDS} rounds | {c:.0f} ms |")
    large = large_cluster_translation() * 1000
    print(
        f"| JSON decoding + samples + render for 1,000 OSDs (synthetic osd dump) | {large:.1f} ms |"
    )
    print(f"\nRatio collection / bare calls: {o / b:.2f}x; the CLI is {c / o:.0f}x a collection.")


async def measure(cluster: CephCluster, client: Any) -> tuple[list[float], ...]:
    pool = WorkerPool()
    collector = CephCollector(CephTarget(name="ceph", conf=str(cluster.conf)), pool.lane("ceph"))
    replies = collector.read()  # opens the collector's own connection before timing
    bare: list[float] = []
    ours: list[float] = []
    translate: list[float] = []
    decoded: list[float] = []
    try:
        for _ in range(ROUNDS):  # alternate so both see the same cluster state and load
            bare.append(timed(lambda: bare_calls(client)))
            started = time.perf_counter()
            render([await collector.collect()])
            ours.append(time.perf_counter() - started)
            translate.append(timed(lambda: render([cluster_samples("ceph", replies)])))
            decoded.append(timed(collector.read))
    finally:
        await collector.close()
        pool.shutdown()
    return bare, ours, translate, decoded


if __name__ == "__main__":
    main()
