"""Our vSphere collection against vmware-exporter 0.18.4, side by side on one simulator.

    .venv/bin/python -m benchmarks.vsphere [--sizes 5000,10000] [--scrapes 7]
        [--their-scrapes 7,3] [--soak 200]

For each inventory size one simulated vCenter (tools/vcsim) serves both exporters; their
scrapes alternate, so both see the same machine load. Per scrape: wall time of the HTTP
request (what Prometheus waits for), CPU seconds of the exporter process (utime + stime
from /proc), and the process's peak RSS (VmHWM) after all scrapes. Medians of `--scrapes`
scrapes of ours and `--their-scrapes` of theirs (per size: vmware-exporter takes tens of
seconds a scrape at 10,000 VMs) after one warm-up scrape each (ours logs in once and keeps
its session; theirs logs in per scrape, as it always does). `--soak N` then scrapes ours
N more times at the largest size and reports its RSS along the way.

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

from benchmarks.proxy import ByteProxy
from exporter.collectors.vsphere.collector import PERF_BATCH
from exporter.collectors.vsphere.inventory import Inventory
from exporter.collectors.vsphere.samples import Snapshot, perf_targets, snapshot_samples
from exporter.collectors.vsphere.session import Session, query_perf_answer
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
    series: int = 0
    peak_rss_mib: float = 0.0

    def median_wall(self) -> float:
        return statistics.median(self.wall)

    def median_cpu(self) -> float:
        return statistics.median(self.cpu)


def scrape(
    url: str, pid: int, runs: Runs | None, proxy: ByteProxy | None = None, gzip_ok: bool = False
) -> tuple[str, int]:
    """One scrape: (exposition, bytes the simulator sent through `proxy` meanwhile)."""
    cpu = cpu_seconds(pid)
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


def profile(sim: Vcsim, rounds: int = 3) -> dict[str, float]:
    """Where a steady-state collection's time goes, in this process, one step after the
    other (the exporter overlaps the update call with perf batches on two slots): the
    update call, the QueryPerf batches (waiting for vCenter's answers, and reading them),
    the translation to samples and the rendering. Medians of `rounds`."""
    config = parse_config(json.dumps({"targets": [sim.target("profile")]}), "benchmark")
    target = config.targets[0]
    assert isinstance(target, VsphereTarget)
    session, inventory = Session(target), Inventory()
    steps: dict[str, list[float]] = {
        k: [] for k in ("inventory", "perf_wait", "perf_read", "samples", "render")
    }
    try:
        started = time.perf_counter()
        objects = inventory.read(session)
        full_read = time.perf_counter() - started
        for _ in range(rounds):
            t0 = time.perf_counter()
            objects = inventory.read(session)
            t1 = time.perf_counter()
            snap = Snapshot(objects)
            hosts, vms = perf_targets(snap)
            plan = [(h, True) for h in hosts] + [(v, False) for v in vms]
            wait = read = 0.0
            for i in range(0, len(plan), PERF_BATCH):
                batch = plan[i : i + PERF_BATCH]
                b0 = time.perf_counter()
                answer = query_perf_answer(
                    session, [e for e, h in batch if h], [e for e, h in batch if not h]
                )
                b1 = time.perf_counter()
                if answer is not None:
                    snap.perf.update(parse_perf(answer, session.counter_names))
                read += time.perf_counter() - b1
                wait += b1 - b0
            t2 = time.perf_counter()
            samples = snapshot_samples("profile", snap)
            t3 = time.perf_counter()
            render([samples])
            t4 = time.perf_counter()
            for key, value in zip(steps, (t1 - t0, wait, read, t3 - t2, t4 - t3), strict=True):
                steps[key].append(value)
    finally:
        session.logout()
    out = {k: statistics.median(v) for k, v in steps.items()}
    out["full_read"] = full_read
    return out


def by_method(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def measure(
    size: int, scrapes: int, their_scrapes: int, soak: int, workdir: Path
) -> dict[str, object]:
    # two clusters of ten hosts share the VMs, as a mid-size vCenter would
    started = time.monotonic()
    sim = Vcsim(workdir, clusters=2, hosts=10, vms=size // 2, startup_timeout=900)
    sim_start = time.monotonic() - started
    sim_rss = memory_kib(sim.proc.pid, "VmRSS") / 1024
    ours_runs, theirs_runs = Runs(), Runs()
    soak_rss: list[tuple[int, float]] = []
    ours = theirs = None
    ours_proxy, theirs_proxy = ByteProxy(sim.address), ByteProxy(sim.address)
    load: dict[str, object] = {}
    try:
        target = sim.target(timeout=300) | {"host": ours_proxy.address}
        ours = Exporter({"targets": [target]}, workdir)
        theirs = Incumbent(sim, workdir, theirs_proxy.address)
        ours_url = ours.url + "/metrics"
        ours_pid, theirs_pid = ours.proc.pid, theirs.proc.pid
        methods = sim.sent_bytes()
        # warm-up: login, counters, view, the full inventory
        body, load["first"] = scrape(ours_url, ours_pid, None, ours_proxy)
        assert 'hypervisor_target_up{target="vc",kind="vsphere"} 1' in body, body[-2000:]
        load["first_by_method"] = by_method(methods, sim.sent_bytes())
        _, load["theirs_first"] = scrape(theirs.url, theirs_pid, None, theirs_proxy)
        calls = sim.calls()
        for i in range(max(scrapes, their_scrapes)):
            if i < scrapes:
                scrape(ours_url, ours_pid, ours_runs, ours_proxy)
            if i < their_scrapes:
                scrape(theirs.url, theirs_pid, theirs_runs, theirs_proxy)
        # Round trips of ours per steady scrape for the event history (vmware-exporter reads
        # no events, so these counts are ours alone): nothing happened, one ReadNextEvents.
        after = sim.calls()
        load["steady_event_calls"] = {
            k: (after.get(k, 0) - calls.get(k, 0)) / scrapes
            for k in ("ReadNextEvents", "CreateCollectorForEvents")
        }
        ours_runs.peak_rss_mib = memory_kib(ours_pid, "VmHWM") / 1024
        theirs_runs.peak_rss_mib = memory_kib(theirs_pid, "VmHWM") / 1024
        theirs.stop()
        # steady state by method, ours alone (the simulator counts every client's calls)
        methods = sim.sent_bytes()
        for _ in range(3):
            scrape(ours_url, ours_pid, None, ours_proxy)
        load["steady_by_method"] = {
            k: v // 3 for k, v in by_method(methods, sim.sent_bytes()).items()
        }
        # a full collection on the kept session: versions forgotten, the exporter reads all
        sim.updates(forget_versions=True)
        methods = sim.sent_bytes()
        _, load["full"] = scrape(ours_url, ours_pid, None, ours_proxy)
        load["full_by_method"] = by_method(methods, sim.sent_bytes())
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
        for i in range(1, soak + 1):
            scrape(ours_url, ours_pid, None, ours_proxy)
            if i == 1 or i % 25 == 0:
                soak_rss.append((i, memory_kib(ours_pid, "VmRSS") / 1024))
    finally:
        for peer in (ours, theirs, sim):
            if peer is not None:
                peer.stop()
        ours_proxy.stop()
        theirs_proxy.stop()
    load["steady"] = statistics.median(ours_runs.vcenter_bytes)
    load["theirs_steady"] = statistics.median(theirs_runs.vcenter_bytes)
    return {
        "vms": sim.state["vms"],
        "hosts": sim.state["hosts"],
        "sim_start_seconds": sim_start,
        "sim_rss_mib": sim_rss,
        "ours": ours_runs.__dict__
        | {"median_wall": ours_runs.median_wall(), "median_cpu": ours_runs.median_cpu()},
        "theirs": theirs_runs.__dict__
        | {"median_wall": theirs_runs.median_wall(), "median_cpu": theirs_runs.median_cpu()},
        "soak_rss_mib": soak_rss,
        "load": load,
        "profile": steps,
    }


def mb(n: object) -> str:
    assert isinstance(n, int | float)
    return f"{n / 1e6:.2f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def table(results: list[dict[str, object]]) -> str:
    lines = [
        "| VMs | exporter | scrape wall (median) | CPU s per scrape (median) | peak RSS | series |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    ratios = []
    for r in results:
        ours, theirs = r["ours"], r["theirs"]
        assert isinstance(ours, dict) and isinstance(theirs, dict)
        for name, run in (("hypervisor-exporter", ours), ("vmware-exporter 0.18.4", theirs)):
            lines.append(
                f"| {r['vms']} | {name} | {run['median_wall']:.3f} s |"
                f" {run['median_cpu']:.2f} | {run['peak_rss_mib']:.0f} MiB |"
                f" {run['series']} |"
            )
        ratios.append(
            f"- {r['vms']} VMs: ours is {theirs['median_wall'] / ours['median_wall']:.1f}x faster"
            f" (wall), uses {theirs['median_cpu'] / max(ours['median_cpu'], 1e-3):.1f}x less CPU"
            f" and {theirs['peak_rss_mib'] / ours['peak_rss_mib']:.1f}x less peak RSS"
        )
    out = "\n".join(lines) + "\n\n" + "\n".join(ratios) + "\n"
    out += (
        "\n| VMs | ours: first scrape | full read, kept session | steady state (median)"
        " | steady / full | vmware-exporter per scrape |\n|---:|---:|---:|---:|---:|---:|\n"
    )
    for r in results:
        load = r["load"]
        assert isinstance(load, dict)
        out += (
            f"| {r['vms']} | {mb(load['first'])} | {mb(load['full'])} | {mb(load['steady'])}"
            f" | {load['steady'] / load['full']:.3f} | {mb(load['theirs_steady'])} |\n"
        )
    out += "\nWith gzip on the wire (vCenter 8.0.3 and later):\n"
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
        for key in ("first_by_method", "full_by_method", "steady_by_method"):
            parts = ", ".join(f"{k} {mb(v)}" for k, v in sorted(load[key].items()))
            out += f"\n{r['vms']} VMs, {key.replace('_', ' ')}: {parts}"
        events = ", ".join(f"{k} {v:g}" for k, v in sorted(load["steady_event_calls"].items()))
        out += f"\n{r['vms']} VMs, event history calls per steady scrape: {events}"
        out += (
            f"\n{r['vms']} VMs, exposition {mb(load['exposition_bytes'])}, gzip"
            f" {mb(load['gzip_bytes'])} ({load['exposition_bytes'] / load['gzip_bytes']:.1f}x"
            f" smaller), compressing {load['gzip_seconds'] * 1000:.0f} ms"
            f" ({load['gzip_seconds'] / r['ours']['median_wall']:.3f} of the median scrape)"  # type: ignore[index]
            f"; simulator start {r['sim_start_seconds']:.0f} s, RSS {r['sim_rss_mib']:.0f} MiB\n"
        )
    for r in results:
        steps = r["profile"]
        assert isinstance(steps, dict)
        total = sum(v for k, v in steps.items() if k != "full_read")
        parts = ", ".join(
            f"{k.replace('_', ' ')} {v * 1000:.0f} ms ({v / total:.0%})"
            for k, v in steps.items()
            if k != "full_read"
        )
        out += (
            f"\n{r['vms']} VMs, one steady collection step by step: {parts};"
            f" perf (wait + read) {(steps['perf_wait'] + steps['perf_read']) / total:.0%};"
            f" a full read alone {steps['full_read']:.2f} s\n"
        )
    for r in results:
        soak = r["soak_rss_mib"]
        if soak:
            assert isinstance(soak, list)
            points = ", ".join(f"{n}: {rss:.0f}" for n, rss in soak)
            out += f"\nRSS (MiB) of ours after N more scrapes at {r['vms']} VMs: {points}\n"
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="5000,10000")
    parser.add_argument("--scrapes", type=int, default=7)
    parser.add_argument("--their-scrapes", default="7,3", help="vmware-exporter's scrapes per size")
    parser.add_argument("--soak", type=int, default=200, help="at the largest size")
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
            results.append(measure(size, args.scrapes, their_scrapes, soak, Path(tmp) / str(size)))
            print(f"{size} VMs measured", file=sys.stderr)
            if args.json:
                args.json.write_text(json.dumps(results, indent=1))
    print(table(results))


if __name__ == "__main__":
    main()
