"""Alert rules: what the autostart alert's template queries cost in a mass outage.

    .venv/bin/python -m benchmarks.alerts

A datacenter power loss is when HypervisorVMAutostartFailed fires for many VMs at once, and
Prometheus expands every active alert's annotations on every evaluation: the description's
four template queries (power state, uptime, grace, suspects) then run per VM. Two real
Prometheus servers scrape the same synthetic exposition of 1,000 autostart VMs that are all
down on 20 hosts (5 of them with memory pressure): one loads the shipped rules, the other
the same rules with a static description. Reported: the median evaluation time of the
`hypervisor-autostart` group in each, and the ratio.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from harness.process import free_port, wait_until
from harness.prometheus import Prometheus

ROOT = Path(__file__).resolve().parent.parent
HOSTS, VMS = 20, 1000
STATES = ("running", "stopped", "paused", "suspended", "crashed", "unknown")
SAMPLES = 15


def exposition() -> bytes:
    lines = []
    for h in range(HOSTS):
        host = f'target="vc",host="esx{h:02d}"'
        for state in ("connected", "disconnected", "not_responding"):
            up = int(state == "connected")
            lines.append(f'hypervisor_host_connection_state{{{host},state="{state}"}} {up}')
        lines.append(f"hypervisor_host_maintenance_mode{{{host}}} 0")
        lines.append(f"hypervisor_host_boot_timestamp_seconds{{{host}}} {time.time() - 86400}")
        lines.append(f"hypervisor_host_memory_usage_ratio{{{host}}} {0.9 if h < 5 else 0.5}")
    for v in range(VMS):
        vm = f'target="vc",host="esx{v % HOSTS:02d}",vm="vm{v:04d}"'
        lines.append(f"hypervisor_vm_autostart_enabled{{{vm}}} 1")
        lines.append(f"hypervisor_vm_autostart_order{{{vm}}} {v // HOSTS + 1}")
        lines.append(f"hypervisor_vm_autostart_delay_seconds{{{vm}}} 10")
        for state in STATES:
            lines.append(
                f'hypervisor_vm_power_state{{{vm},state="{state}"}} {int(state == "stopped")}'
            )
    return ("\n".join(lines) + "\n").encode()


def serve(body: bytes) -> tuple[ThreadingHTTPServer, int]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


def rules(workdir: Path, static_description: bool) -> Path:
    out = workdir / f"rules-{'static' if static_description else 'shipped'}.yaml"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "render-rules.py"), "--for", "0s", "-o", str(out)],
        check=True,
    )
    if static_description:
        document = yaml.safe_load(out.read_text())
        for group in document["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == "HypervisorVMAutostartFailed":
                    rule["annotations"]["description"] = "VM {{ $labels.vm }} did not autostart"
        out.write_text(yaml.safe_dump(document))
    return out


def group_seconds(prometheus: Prometheus) -> float:
    """Median evaluation time of the autostart group over SAMPLES evaluations."""
    wait_until(
        lambda: len(prometheus.query('ALERTS{alertname="HypervisorVMAutostartFailed"}')) == VMS,
        120,
        "every VM's alert active",
    )
    seen: list[float] = []
    while len(seen) < SAMPLES:
        result = prometheus.query(
            'prometheus_rule_group_last_duration_seconds{rule_group=~".*;hypervisor-autostart"}'
        )
        value = float(result[0]["value"][1])
        if not seen or value != seen[-1]:
            seen.append(value)
        time.sleep(1)
    return statistics.median(seen)


def main() -> None:
    server, port = serve(exposition())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results: dict[bool, float] = {}
        for static in (False, True):
            prometheus = Prometheus(
                work / f"prom-{static}", [f"127.0.0.1:{port}"], [rules(work, static)]
            )
            # Prometheus scrapes itself too, for prometheus_rule_group_last_duration_seconds.
            try:
                config = yaml.safe_load(
                    next(work.glob(f"prom-{static}/prometheus-*.yml")).read_text()
                )
                config["scrape_configs"].append(
                    {
                        "job_name": "self",
                        "static_configs": [{"targets": [f"127.0.0.1:{prometheus.port}"]}],
                    }
                )
                next(work.glob(f"prom-{static}/prometheus-*.yml")).write_text(
                    yaml.safe_dump(config)
                )
                prometheus.signal(1)  # SIGHUP: reload with the self-scrape
                results[static] = group_seconds(prometheus)
            finally:
                prometheus.stop()
    server.shutdown()
    shipped, static_only = results[False], results[True]
    print(f"alerts: {VMS} VMs failing autostart on {HOSTS} hosts, autostart group evaluation")
    print(f"  shipped rules (template-query description): {shipped * 1000:8.1f} ms")
    print(f"  same rules, static description:             {static_only * 1000:8.1f} ms")
    print(f"  ratio: {shipped / static_only:.1f}x")


if __name__ == "__main__":
    main()
