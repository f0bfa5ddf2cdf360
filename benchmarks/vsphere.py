"""Our vSphere collection against vmware-exporter 0.18.4, side by side on one simulator.

    .venv/bin/python -m benchmarks.vsphere [--sizes 5000,10000] [--scrapes 7]
        [--their-scrapes 7,3] [--soak 200] [--soak-default 50]

For each inventory size one simulated vCenter (tools/vcsim) serves three exporters: ours
with the default settings, ours with `capacity_interval: 300` (the capacity counters read
every 5 minutes per VM, the setting docs/scaling.md recommends at these sizes) and
vmware-exporter; their scrapes alternate, so all see the same machine load. Per scrape:
wall time of the HTTP request (what Prometheus waits for), CPU seconds of the exporter
process (utime + stime from /proc), and the process's peak RSS (VmHWM) after all scrapes.
Medians of `--scrapes` scrapes of ours and `--their-scrapes` of theirs (per size:
vmware-exporter takes tens of seconds a scrape at 10,000 VMs) after one warm-up scrape
each (ours logs in once and keeps its session; theirs logs in per scrape, as it always
does). `--soak N` then scrapes ours with capacity_interval N more times at the largest
size (the first `--soak-default` of them also ours with the defaults) and reports their
RSS along the way.

Load on vCenter: each exporter talks to the simulator through its own byte-counting
proxy (benchmarks/proxy.py), so the bytes vCenter sends per scrape are counted on the
wire; the simulator's GET /bytes splits them by SOAP method. Ours is measured three ways:
its first collection (login, counters, full inventory, perf), a full collection on the
kept session (the simulator is told to forget the update protocol's versions, so the
exporter falls back to a full read), and steady-state collections with nothing changing.

Compression: the exposition of ours fetched with and without `Accept-Encoding: gzip`, and
gzip at the exporter's level timed in this process on the same text.

vmware-exporter runs from its own venv (.cache/vmware-exporter-venv, created on first use
with `pip install vmware-exporter==0.18.4 requests twisted==24.3.0`: newer Twisted breaks
it) with certificate checks off, the only way it can talk to a self-signed vCenter.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.proxy import ByteProxy
from exporter.blocking import Lane
from exporter.collectors.vsphere.collector import PERF_BATCH, VsphereCollector
from exporter.collectors.vsphere.samples import Snapshot, perf_targets
from exporter.collectors.vsphere.session import query_perf_answer
from exporter.collectors.vsphere.target import VsphereTarget
from exporter.collectors.vsphere.wire import parse_perf
from exporter.config import parse_config
from exporter.http import GZIP_LEVEL
from exporter.metrics import render
from harness.exporter import Exporter
from harness.process import Peer, free_port
from harness.vcsim import Vcsim

ROOT = Path(__file__).resolve().parents[1]
INCUMBENT_VENV = ROOT / ".cache" / "vmware-exporter-venv"
INCUMBENT = INCUMBENT_VENV / "bin" / "vmware_exporter"
TICK = os.sysconf("SC_CLK_TCK")


def ensure_incumbent() -> None:
    if INCUMBENT.exists():
        return
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(INCUMBENT_VENV)], check=True)
    subprocess.run(
        [
            str(INCUMBENT_VENV / "bin" / "pip"),
            "install",
            "-q",
            "vmware-exporter==0.18.4",
            "requests",
            "twisted==24.3.0",
        ],
        check=True,
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def memory_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


@dataclass
class Runs:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    vcenter_bytes: list[int] = field(default_factory=list)
    # CPU seconds of the simulator during the scrape: what vCenter spends answering it
    vcenter_cpu: list[float] = field(default_factory=list)
    series: int = 0
    peak_rss_mib: float = 0.0

    def median_wall(self) -> float:
        return statistics.median(self.wall)

    def median_cpu(self) -> float:
        return statistics.median(self.cpu)


SIMULATOR_PID = 0  # the simulator of the size being measured, for its CPU per scrape


def scrape(
    url: str, pid: int, runs: Runs | None, proxy: ByteProxy | None = None, gzip_ok: bool = False
) -> tuple[str, int]:
    """One scrape: (exposition, bytes the simulator sent through `proxy` meanwhile)."""
    cpu = cpu_seconds(pid)
    sim_cpu = cpu_seconds(SIMULATOR_PID) if SIMULATOR_PID else 0.0
    before = proxy.counts().from_server if proxy else 0
    request = urllib.request.Request(url)
    if gzip_ok:
        request.add_header("Accept-Encoding", "gzip")
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=900) as response:
        raw = response.read()
        compressed = response.headers.get("Content-Encoding") == "gzip"
    wall = time.perf_counter() - started
    sent = (proxy.counts().from_server - before) if proxy else 0
    body = (gzip.decompress(raw) if compressed else raw).decode()
    if runs is not None:
        runs.wall.append(wall)
        runs.cpu.append(cpu_seconds(pid) - cpu)
        runs.vcenter_bytes.append(sent)
        if SIMULATOR_PID:
            runs.vcenter_cpu.append(cpu_seconds(SIMULATOR_PID) - sim_cpu)
        runs.series = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
    return body, sent


class Incumbent(Peer):
    def __init__(self, sim: Vcsim, workdir: Path, address: str) -> None:
        self.port = free_port()
        env = {
            "VSPHERE_USER": sim.username,
            "VSPHERE_PASSWORD": sim.password,
            "VSPHERE_IGNORE_SSL": "True",
            "VSPHERE_HOST": address,
        }
        super().__init__(
            f"vmware-exporter-{self.port}",
            [str(INCUMBENT), "-a", "127.0.0.1", "-p", str(self.port)],
            workdir,
            env=env,
        )
        self.url = f"http://127.0.0.1:{self.port}/metrics?target={address}"

        def up() -> bool:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2).close()
            return True

        self.wait_ready(up, timeout=30)


def profile(sim: Vcsim, rounds: int = 3) -> dict[str, dict[str, float]]:
    """Where a steady-state collection's time goes, in this process, one step after the
    other (the exporter overlaps the update call with perf batches on two slots): the
    update call, the QueryPerf batches (waiting for vCenter's answers, and reading them),
    the translation to samples and the rendering. Two kinds of collection, round by round:
    "default" asks every VM its capacity counters (capacity_interval 0, and the collection
    that re-reads them with capacity_interval 300), "interval" asks none (the collections
    between). Medians of `rounds`."""
    config = parse_config(json.dumps({"targets": [sim.target("profile")]}), "benchmark")
    target = config.targets[0]
    assert isinstance(target, VsphereTarget)
    # The collector's own session, inventory and samples (it keeps the inventory's samples
    # while nothing changes); the perf batches are read here one after the other.
    collector = VsphereCollector(target, Lane("profile", 2))
    session, inventory = collector.session, collector.inventory
    kinds = ("default", "interval")
    names = ("inventory", "perf_wait", "perf_read", "samples", "render")
    steps: dict[str, dict[str, list[float]]] = {k: {n: [] for n in names} for k in kinds}
    try:
        started = time.perf_counter()
        objects = inventory.read(session)
        full_read = time.perf_counter() - started
        for _ in range(rounds):
            for kind in kinds:
                t0 = time.perf_counter()
                objects = inventory.read(session)
                t1 = time.perf_counter()
                snap = Snapshot(objects)
                hosts, vms = perf_targets(snap)
                plan = [(h, True) for h in hosts] + [(v, False) for v in vms]
                wait = read = 0.0
                for i in range(0, len(plan), PERF_BATCH):
                    batch = plan[i : i + PERF_BATCH]
                    batch_vms = [e for e, h in batch if not h]
                    capacity = set(batch_vms) if kind == "default" else set()
                    b0 = time.perf_counter()
                    answer = query_perf_answer(
                        session, [e for e, h in batch if h], batch_vms, capacity
                    )
                    b1 = time.perf_counter()
                    if answer is not None:
                        snap.perf.update(parse_perf(answer, session.counter_names))
                    read += time.perf_counter() - b1
                    wait += b1 - b0
                t2 = time.perf_counter()
                samples = collector.samples_of(snap)
                t3 = time.perf_counter()
                render([samples])
                t4 = time.perf_counter()
                values = (t1 - t0, wait, read, t3 - t2, t4 - t3)
                for name, value in zip(names, values, strict=True):
                    steps[kind][name].append(value)
    finally:
        session.logout()
    out = {k: {n: statistics.median(v) for n, v in steps[k].items()} for k in kinds}
    for k in kinds:
        out[k]["full_read"] = full_read
    return out


def by_method(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


CAPACITY_INTERVAL = 300.0  # the setting docs/scaling.md recommends at these sizes


def measure(
    size: int, scrapes: int, their_scrapes: int, soak: int, soak_default: int, workdir: Path
) -> dict[str, object]:
    """Ours with the default settings ("ours"), ours with capacity_interval 300
    ("ours_interval") and vmware-exporter, on one simulator, scrapes alternating."""
    load_at_start = os.getloadavg()
    # two clusters of ten hosts share the VMs, as a mid-size vCenter would
    started = time.monotonic()
    sim = Vcsim(workdir, clusters=2, hosts=10, vms=size // 2, startup_timeout=900)
    sim_start = time.monotonic() - started
    sim_rss = memory_kib(sim.proc.pid, "VmRSS") / 1024
    global SIMULATOR_PID
    SIMULATOR_PID = sim.proc.pid
    ours_runs, interval_runs, theirs_runs = Runs(), Runs(), Runs()
    soak_rss: list[tuple[int, float, float]] = []  # (scrapes, interval RSS, default RSS)
    ours = interval = theirs = None
    ours_proxy, interval_proxy = ByteProxy(sim.address), ByteProxy(sim.address)
    theirs_proxy = ByteProxy(sim.address)
    load: dict[str, object] = {}
    try:
        target = sim.target(timeout=300) | {"host": ours_proxy.address}
        ours = Exporter({"targets": [target]}, workdir)
        target = sim.target(timeout=300, capacity_interval=CAPACITY_INTERVAL)
        interval = Exporter({"targets": [target | {"host": interval_proxy.address}]}, workdir)
        theirs = Incumbent(sim, workdir, theirs_proxy.address)
        ours_url, interval_url = ours.url + "/metrics", interval.url + "/metrics"
        ours_pid, interval_pid, theirs_pid = ours.proc.pid, interval.proc.pid, theirs.proc.pid
        methods = sim.sent_bytes()
        # warm-up: login, counters, view, the full inventory, every counter
        body, load["first"] = scrape(ours_url, ours_pid, None, ours_proxy)
        assert 'hypervisor_target_up{target="vc",kind="vsphere"} 1' in body, body[-2000:]
        load["first_by_method"] = by_method(methods, sim.sent_bytes())
        _, load["first_interval"] = scrape(interval_url, interval_pid, None, interval_proxy)
        _, load["theirs_first"] = scrape(theirs.url, theirs_pid, None, theirs_proxy)
        calls = sim.calls()
        for i in range(max(scrapes, their_scrapes)):
            if i < scrapes:
                scrape(ours_url, ours_pid, ours_runs, ours_proxy)
                scrape(interval_url, interval_pid, interval_runs, interval_proxy)
            if i < their_scrapes:
                scrape(theirs.url, theirs_pid, theirs_runs, theirs_proxy)
        # Round trips of ours per steady scrape for the event history (vmware-exporter reads
        # no events, so these counts are our two exporters'): nothing happened, one
        # ReadNextEvents each.
        after = sim.calls()
        load["steady_event_calls"] = {
            k: (after.get(k, 0) - calls.get(k, 0)) / (2 * scrapes)
            for k in ("ReadNextEvents", "CreateCollectorForEvents")
        }
        for runs, pid in ((ours_runs, ours_pid), (interval_runs, interval_pid)):
            runs.peak_rss_mib = memory_kib(pid, "VmHWM") / 1024
        theirs_runs.peak_rss_mib = memory_kib(theirs_pid, "VmHWM") / 1024
        theirs.stop()
        # steady state by method, each of ours alone (the simulator counts every client)
        for key, url, pid, proxy in (
            ("steady_by_method", ours_url, ours_pid, ours_proxy),
            ("steady_interval_by_method", interval_url, interval_pid, interval_proxy),
        ):
            methods = sim.sent_bytes()
            for _ in range(3):
                scrape(url, pid, None, proxy)
            load[key] = {k: v // 3 for k, v in by_method(methods, sim.sent_bytes()).items()}
        # a full collection on the kept session: versions forgotten, the exporters read the
        # whole inventory again (with capacity_interval, its perf pass stays the light one)
        sim.updates(forget_versions=True)
        methods = sim.sent_bytes()
        _, load["full"] = scrape(ours_url, ours_pid, None, ours_proxy)
        load["full_by_method"] = by_method(methods, sim.sent_bytes())
        methods = sim.sent_bytes()
        _, load["full_interval"] = scrape(interval_url, interval_pid, None, interval_proxy)
        load["full_interval_by_method"] = by_method(methods, sim.sent_bytes())
        # the same with gzip on the wire (vCenter 8.0.3 and later honour Accept-Encoding)
        sim.set_gzip(True)
        steady_gz = [scrape(ours_url, ours_pid, None, ours_proxy)[1] for _ in range(3)]
        sim.updates(forget_versions=True)
        _, load["full_gzip"] = scrape(ours_url, ours_pid, None, ours_proxy)
        load["steady_gzip"] = statistics.median(steady_gz)
        sim.set_gzip(False)
        # compression of the exposition
        plain, _ = scrape(ours_url, ours_pid, None, ours_proxy)
        request = urllib.request.Request(ours_url, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=900) as response:
            assert response.headers.get("Content-Encoding") == "gzip"
            compressed = len(response.read())
        data = plain.encode()
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            gzip.compress(data, GZIP_LEVEL)
            times.append(time.perf_counter() - t0)
        load["exposition_bytes"], load["gzip_bytes"] = len(data), compressed
        load["gzip_seconds"] = statistics.median(times)
        steps = profile(sim)
        scrape(interval_url, interval_pid, None, interval_proxy)  # its full read (forgotten)
        for i in range(1, soak + 1):
            scrape(interval_url, interval_pid, None, interval_proxy)
            if i <= soak_default:
                scrape(ours_url, ours_pid, None, ours_proxy)
            if i == 1 or i % 25 == 0:
                soak_rss.append(
                    (
                        i,
                        memory_kib(interval_pid, "VmRSS") / 1024,
                        memory_kib(ours_pid, "VmRSS") / 1024,
                    )
                )
    finally:
        for peer in (ours, interval, theirs, sim):
            if peer is not None:
                peer.stop()
        for proxy in (ours_proxy, interval_proxy, theirs_proxy):
            proxy.stop()
        SIMULATOR_PID = 0
    load["steady"] = statistics.median(ours_runs.vcenter_bytes)
    load["steady_interval"] = statistics.median(interval_runs.vcenter_bytes)
    load["theirs_steady"] = statistics.median(theirs_runs.vcenter_bytes)

    def run(runs: Runs) -> dict[str, object]:
        return runs.__dict__ | {"median_wall": runs.median_wall(), "median_cpu": runs.median_cpu()}

    return {
        "vms": sim.state["vms"],
        "hosts": sim.state["hosts"],
        "sim_start_seconds": sim_start,
        "sim_rss_mib": sim_rss,
        "load_average": [load_at_start, os.getloadavg()],
        "ours": run(ours_runs),
        "ours_interval": run(interval_runs),
        "theirs": run(theirs_runs),
        "soak_rss_mib": soak_rss,
        "load": load,
        "profile": steps,
    }


def mb(n: object) -> str:
    assert isinstance(n, int | float)
    return f"{n / 1e6:.2f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


EXPORTERS = (
    ("ours", "hypervisor-exporter, defaults"),
    ("ours_interval", f"hypervisor-exporter, capacity_interval {CAPACITY_INTERVAL:.0f}"),
    ("theirs", "vmware-exporter 0.18.4"),
)


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| VMs | exporter | scrape wall (median) | CPU s per scrape (median) | peak RSS | series |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    notes = []
    for r in results:
        runs: dict[str, dict[str, Any]] = {k: r[k] for k, _ in EXPORTERS}
        for key, name in EXPORTERS:
            run = runs[key]
            lines.append(
                f"| {r['vms']} | {name} | {run['median_wall']:.3f} s |"
                f" {run['median_cpu']:.2f} | {run['peak_rss_mib']:.0f} MiB |"
                f" {run['series']} |"
            )
        theirs = runs["theirs"]
        for key, name in EXPORTERS[:2]:
            run = runs[key]
            walls = ", ".join(f"{w:.2f}" for w in run["wall"])
            sent = ", ".join(mb(b) for b in run["vcenter_bytes"])
            sim_cpu = statistics.median(run["vcenter_cpu"])
            notes.append(
                f"- {r['vms']} VMs, {name}:"
                f" {theirs['median_wall'] / run['median_wall']:.1f}x faster (wall),"
                f" {theirs['median_cpu'] / max(run['median_cpu'], 1e-3):.1f}x less CPU,"
                f" {theirs['peak_rss_mib'] / run['peak_rss_mib']:.1f}x less peak RSS"
                f" than vmware-exporter; scrapes {walls} s; from vCenter {sent};"
                f" the simulator's CPU per scrape {sim_cpu:.2f} s (median)"
            )
        walls = ", ".join(f"{w:.1f}" for w in theirs["wall"])
        averages = r["load_average"]
        notes.append(
            f"- {r['vms']} VMs, vmware-exporter scrapes {walls} s; load average at the start"
            f" and end {averages[0][0]:.1f} and {averages[1][0]:.1f}"
        )
    out = "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"
    out += (
        "\n| VMs | setting | first scrape | full collection | steady state (median)"
        " | steady / full collection | vmware-exporter per scrape |\n"
        "|---:|---|---:|---:|---:|---:|---:|\n"
    )
    for r in results:
        load = r["load"]
        assert isinstance(load, dict)
        # A full collection reads the whole inventory and every counter of every VM: the
        # default setting's after the versions are forgotten (with capacity_interval, the
        # first collection of a session and any whose capacity reads all fall due).
        full = load["full"]
        for setting, first, steady in (
            ("defaults", load["first"], load["steady"]),
            (
                f"capacity_interval {CAPACITY_INTERVAL:.0f}",
                load["first_interval"],
                load["steady_interval"],
            ),
        ):
            out += (
                f"| {r['vms']} | {setting} | {mb(first)} | {mb(full)} | {mb(steady)}"
                f" | {steady / full:.3f} | {mb(load['theirs_steady'])} |\n"
            )
    out += "\nWith gzip on the wire (vCenter 8.0.3 and later), defaults:\n"
    for r in results:
        load = r["load"]
        assert isinstance(load, dict)
        out += (
            f"- {r['vms']} VMs: full read {mb(load['full_gzip'])}, steady state"
            f" {mb(load['steady_gzip'])} ({load['steady_gzip'] / load['full_gzip']:.3f})\n"
        )
    for r in results:
        load = r["load"]
        assert isinstance(load, dict)
        for key in (
            "first_by_method",
            "full_by_method",
            "steady_by_method",
            "full_interval_by_method",
            "steady_interval_by_method",
        ):
            parts = ", ".join(f"{k} {mb(v)}" for k, v in sorted(load[key].items()))
            out += f"\n{r['vms']} VMs, {key.replace('_', ' ')}: {parts}"
        events = ", ".join(f"{k} {v:g}" for k, v in sorted(load["steady_event_calls"].items()))
        out += f"\n{r['vms']} VMs, event history calls per steady scrape: {events}"
        out += (
            f"\n{r['vms']} VMs, exposition {mb(load['exposition_bytes'])}, gzip"
            f" {mb(load['gzip_bytes'])} ({load['exposition_bytes'] / load['gzip_bytes']:.1f}x"
            f" smaller), compressing {load['gzip_seconds'] * 1000:.0f} ms"
            f" ({load['gzip_seconds'] / r['ours']['median_wall']:.3f} of the median scrape)"
            f"; simulator start {r['sim_start_seconds']:.0f} s, RSS {r['sim_rss_mib']:.0f} MiB\n"
        )
    for r in results:
        profiles = r["profile"]
        assert isinstance(profiles, dict)
        for kind, steps in profiles.items():
            total = sum(v for k, v in steps.items() if k != "full_read")
            parts = ", ".join(
                f"{k.replace('_', ' ')} {v * 1000:.0f} ms ({v / total:.0%})"
                for k, v in steps.items()
                if k != "full_read"
            )
            what = "every VM's capacity counters" if kind == "default" else "no capacity counters"
            out += (
                f"\n{r['vms']} VMs, one steady collection asking {what}, step by step: {parts};"
                f" perf (wait + read) {(steps['perf_wait'] + steps['perf_read']) / total:.0%};"
                f" a full read alone {steps['full_read']:.2f} s\n"
            )
    for r in results:
        soak = r["soak_rss_mib"]
        if soak:
            assert isinstance(soak, list)
            points = ", ".join(f"{n}: {a:.0f} / {b:.0f}" for n, a, b in soak)
            out += (
                f"\nRSS (MiB) after N more scrapes at {r['vms']} VMs, capacity_interval"
                f" {CAPACITY_INTERVAL:.0f} / defaults: {points}\n"
            )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="5000,10000")
    parser.add_argument("--scrapes", type=int, default=7)
    parser.add_argument("--their-scrapes", default="7,3", help="vmware-exporter's scrapes per size")
    parser.add_argument("--soak", type=int, default=200, help="at the largest size")
    parser.add_argument(
        "--soak-default",
        type=int,
        default=50,
        help="of the --soak scrapes, how many also scrape ours with the default settings",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    ensure_incumbent()
    sizes = [int(s) for s in args.sizes.split(",")]
    theirs = [int(s) for s in args.their_scrapes.split(",")]
    theirs += [theirs[-1]] * (len(sizes) - len(theirs))
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-vsphere-") as tmp:
        for size, their_scrapes in zip(sizes, theirs, strict=False):
            soak = args.soak if size == max(sizes) else 0
            results.append(
                measure(
                    size,
                    args.scrapes,
                    their_scrapes,
                    soak,
                    min(soak, args.soak_default),
                    Path(tmp) / str(size),
                )
            )
            print(f"{size} VMs measured", file=sys.stderr)
            if args.json:
                args.json.write_text(json.dumps(results, indent=1))
    print(table(results))


if __name__ == "__main__":
    main()
