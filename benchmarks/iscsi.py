"""iSCSI collector: one collection against the bare sysfs reads it makes.

    .venv/bin/python -m benchmarks.iscsi

On fixture trees shaped like the kernel's (harness/iscsi_sysfs.py) with 10, 100 and
1,000 sessions of one connection each: the median time of one full collection (the read
in the target's worker thread, the samples and their rendering) against the median time
of opening and reading the same attribute files and listing the same two directories
with nothing around it, as a ratio. As root, also one `iscsiadm -m session` over the
1,000-session tree (bind-mounted over /sys), the command a textfile script would run.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from exporter.blocking import WorkerPool
from exporter.collectors.iscsi import (
    CONNECTION_ATTRS,
    SESSION_ATTRS,
    IscsiCollector,
    IscsiTarget,
    read_snapshot,
)
from exporter.metrics import render
from harness import iscsiadm
from harness.iscsi_sysfs import Connection, Session, build_tree

RUNS = 30
STATES = ("LOGGED_IN", "LOGGED_IN", "LOGGED_IN", "FAILED", "FREE")


def sessions(count: int) -> list[Session]:
    return [
        Session(
            sid,
            f"iqn.2010-10.example.bench:vol{sid:05d}",
            STATES[sid % len(STATES)],
            luns=0,
            connections=[
                Connection(0, "up" if sid % 5 < 3 else "failed", f"10.0.{sid % 4}.10", 3260)
            ],
        )
        for sid in range(1, count + 1)
    ]


def bare_reads(root: str, objects: Sequence[tuple[str, tuple[str, ...]]]) -> Callable[[], None]:
    """The system calls of one collection with nothing around them: list the two class
    directories, open each session's and connection's directory, read its attributes."""
    listings = [f"{root}/class/iscsi_session", f"{root}/class/iscsi_connection"]
    flags = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC

    def run() -> None:
        for directory in listings:
            os.listdir(directory)
        for base, attributes in objects:
            dfd = os.open(base, flags)
            for attribute in attributes:
                fd = os.open(attribute, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dfd)
                os.read(fd, 4096)
                os.close(fd)
            os.close(dfd)

    return run


def objects_read(root: str) -> Sequence[tuple[str, tuple[str, ...]]]:
    snapshot = read_snapshot(root)
    return [(f"{root}/class/iscsi_session/{name}", SESSION_ATTRS) for name in snapshot.sessions] + [
        (f"{root}/class/iscsi_connection/{name}", CONNECTION_ATTRS) for name in snapshot.connections
    ]


def side_by_side(root: str, bare: Callable[[], None]) -> tuple[float, float]:
    """Median seconds of the bare reads and of one full collection + render, run
    alternately so that load from other work on the machine hits both alike."""

    async def run() -> tuple[float, float]:
        collector = IscsiCollector(IscsiTarget(name="b", sysfs_root=root), WorkerPool().lane("b"))
        bare()  # warm the dentry and page caches, as a scrape every 15 s finds them
        render([await collector.collect()])
        bare_times, ours_times = [], []
        for _ in range(RUNS):
            started = time.perf_counter()
            bare()
            bare_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            render([await collector.collect()])
            ours_times.append(time.perf_counter() - started)
        return statistics.median(bare_times), statistics.median(ours_times)

    return asyncio.run(run())


def iscsiadm_seconds(root: str, runs: int = 3) -> float | None:
    """Median wall time of `iscsiadm -m session` reading the tree as /sys (root only)."""
    if os.geteuid() != 0:
        return None
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = iscsiadm.run(Path(root), "-m", "session", timeout=600)
        times.append(time.perf_counter() - started)
        if proc.returncode != 0:
            return None
    return statistics.median(times)


def main() -> None:
    print("## iSCSI (sysfs fixture trees)\n")
    print("| sessions | files read | bare reads | full collection + render | ratio |")
    print("|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        root = ""
        for count in (10, 100, 1000):
            started = time.perf_counter()
            root = str(build_tree(Path(tmp) / f"sys{count}", sessions(count)))
            built = time.perf_counter() - started
            objects = objects_read(root)
            files = sum(len(attributes) for _, attributes in objects)
            bare, ours = side_by_side(root, bare_reads(root, objects))
            print(
                f"| {count:,} | {files:,} | {bare * 1e3:.2f} ms | {ours * 1e3:.2f} ms"
                f" | {ours / bare:.2f}x |"
            )
        print(f"\nBuilding the 1,000-session tree took {built:.1f} s.")
        adm = iscsiadm_seconds(root)
        if adm is not None:
            print(
                f"`iscsiadm -m session` on the 1,000-session tree: {adm * 1e3:.0f} ms"
                " (median of 3)."
            )


if __name__ == "__main__":
    main()
