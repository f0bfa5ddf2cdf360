"""Our vSphere collection against vmware-exporter 0.18.4, side by side on one simulator.

    .venv/bin/python -m benchmarks.vsphere [--sizes 1000,5000] [--scrapes 7] [--soak 500]

For each inventory size one simulated vCenter (tools/vcsim) serves both exporters; their
scrapes alternate, so both see the same machine load. Per scrape: wall time of the HTTP
request (what Prometheus waits for), CPU seconds of the exporter process (utime + stime
from /proc), and the process's peak RSS (VmHWM) after all scrapes. Medians of `--scrapes`
scrapes after one warm-up scrape each (ours logs in once and keeps its session; theirs logs
in per scrape, as it always does). `--soak N` then scrapes ours N more times at the first
size and reports its RSS along the way.

vmware-exporter runs from its own venv (.cache/vmware-exporter-venv, created on first use
with `pip install vmware-exporter==0.18.4 requests twisted==24.3.0`: newer Twisted breaks
it) with certificate checks off, the only way it can talk to a self-signed vCenter.
"""

from __future__ import annotations

import argparse
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
    series: int = 0
    peak_rss_mib: float = 0.0

    def median_wall(self) -> float:
        return statistics.median(self.wall)

    def median_cpu(self) -> float:
        return statistics.median(self.cpu)


def scrape(url: str, pid: int, runs: Runs | None) -> str:
    cpu = cpu_seconds(pid)
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as response:
        body: str = response.read().decode()
    wall = time.perf_counter() - started
    if runs is not None:
        runs.wall.append(wall)
        runs.cpu.append(cpu_seconds(pid) - cpu)
        runs.series = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
    return body


class Incumbent(Peer):
    def __init__(self, sim: Vcsim, workdir: Path) -> None:
        self.port = free_port()
        env = {
            "VSPHERE_USER": sim.username,
            "VSPHERE_PASSWORD": sim.password,
            "VSPHERE_IGNORE_SSL": "True",
            "VSPHERE_HOST": sim.address,
        }
        super().__init__(
            f"vmware-exporter-{self.port}",
            [str(INCUMBENT), "-a", "127.0.0.1", "-p", str(self.port)],
            workdir,
            env=env,
        )
        self.url = f"http://127.0.0.1:{self.port}/metrics?target={sim.address}"

        def up() -> bool:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2).close()
            return True

        self.wait_ready(up, timeout=30)


def measure(size: int, scrapes: int, soak: int, workdir: Path) -> dict[str, object]:
    # two clusters of ten hosts share the VMs, as a mid-size vCenter would
    sim = Vcsim(workdir, clusters=2, hosts=10, vms=size // 2, startup_timeout=600)
    ours_runs, theirs_runs = Runs(), Runs()
    soak_rss: list[tuple[int, float]] = []
    ours = theirs = None
    try:
        ours = Exporter({"targets": [sim.target(timeout=300)]}, workdir)
        theirs = Incumbent(sim, workdir)
        ours_url = ours.url + "/metrics"
        ours_pid, theirs_pid = ours.proc.pid, theirs.proc.pid
        body = scrape(ours_url, ours_pid, None)  # warm-up: login, counters, view
        assert 'hypervisor_target_up{target="vc",kind="vsphere"} 1' in body, body[-2000:]
        scrape(theirs.url, theirs_pid, None)
        for _ in range(scrapes):
            scrape(ours_url, ours_pid, ours_runs)
            scrape(theirs.url, theirs_pid, theirs_runs)
        ours_runs.peak_rss_mib = memory_kib(ours_pid, "VmHWM") / 1024
        theirs_runs.peak_rss_mib = memory_kib(theirs_pid, "VmHWM") / 1024
        for i in range(1, soak + 1):
            scrape(ours_url, ours_pid, None)
            if i == 1 or i % 50 == 0:
                soak_rss.append((i, memory_kib(ours_pid, "VmRSS") / 1024))
    finally:
        for peer in (ours, theirs, sim):
            if peer is not None:
                peer.stop()
    return {
        "vms": sim.state["vms"],
        "hosts": sim.state["hosts"],
        "ours": ours_runs.__dict__
        | {"median_wall": ours_runs.median_wall(), "median_cpu": ours_runs.median_cpu()},
        "theirs": theirs_runs.__dict__
        | {"median_wall": theirs_runs.median_wall(), "median_cpu": theirs_runs.median_cpu()},
        "soak_rss_mib": soak_rss,
    }


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
    for r in results:
        soak = r["soak_rss_mib"]
        if soak:
            assert isinstance(soak, list)
            points = ", ".join(f"{n}: {rss:.0f}" for n, rss in soak)
            out += f"\nRSS (MiB) of ours after N more scrapes at {r['vms']} VMs: {points}\n"
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,5000")
    parser.add_argument("--scrapes", type=int, default=7)
    parser.add_argument("--soak", type=int, default=500)
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    ensure_incumbent()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-vsphere-") as tmp:
        for index, size in enumerate(int(s) for s in args.sizes.split(",")):
            results.append(
                measure(size, args.scrapes, args.soak if index == 0 else 0, Path(tmp) / str(size))
            )
            print(f"{size} VMs measured", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(table(results))


if __name__ == "__main__":
    main()
