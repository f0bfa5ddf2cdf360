#!/usr/bin/env python3
"""The exporter, Prometheus and Alertmanager on loopback with the shipped alert rules.

Run through scripts/demo.sh (or `make demo`). Everything binds to 127.0.0.1 on free ports
and lives in a temporary directory; Ctrl-C stops all of it. Notifications the Alertmanager
sends (routed by alerts/alertmanager.example.yaml) are printed here instead of paging.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        sys.exit(
            f"demo: {binary} not found; install it with scripts/deps.d/20-prometheus.sh (root)"
        )
    return path


def wait_ready(name: str, url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"demo: {name} exited with {proc.returncode}; its log:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"demo: {name} not ready after 30s; its log is {log}")


def printing_webhook() -> tuple[ThreadingHTTPServer, int]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            for alert in body["alerts"]:
                labels = alert["labels"]
                print(
                    f"[{self.path.strip('/')}] {alert['status'].upper()} {labels['alertname']}"
                    f" {dict((k, v) for k, v in labels.items() if k != 'alertname')}\n    "
                    f"{alert['annotations'].get('description', '')}",
                    flush=True,
                )
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config.file",
        dest="config",
        type=Path,
        help="exporter config (default: the embedded demo, libvirt test:///default)",
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="shorten every for: to 10s and the autostart grace to 10s",
    )
    args = parser.parse_args()
    prometheus, alertmanager = need("prometheus"), need("prometheus-alertmanager")
    work = Path(tempfile.mkdtemp(prefix="hypervisor-demo-"))
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str, argv: list[str], ready_url: str) -> None:
        log = work / f"{name}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        procs.append(proc)
        wait_ready(name, ready_url, proc, log)

    try:
        _webhook, hook_port = printing_webhook()
        exporter_port, prom_port, am_port = free_port(), free_port(), free_port()
        exporter_argv = [
            sys.executable,
            "-m",
            "exporter",
            f"--web.listen-address=127.0.0.1:{exporter_port}",
        ]
        if args.config:
            exporter_argv.append(f"--config.file={args.config.resolve()}")
        start("exporter", exporter_argv, f"http://127.0.0.1:{exporter_port}/-/ready")

        rules = work / "hypervisor.rules.yaml"
        render = [sys.executable, str(ROOT / "scripts" / "render-rules.py"), "-o", str(rules)]
        if args.fast:
            render += ["--for", "10s", "--autostart-grace", "10"]
        subprocess.run(render, check=True)

        am_config = yaml.safe_load((ROOT / "alerts" / "alertmanager.example.yaml").read_text())
        for receiver in am_config["receivers"]:
            receiver["webhook_configs"][0]["url"] = (
                f"http://127.0.0.1:{hook_port}/{receiver['name']}"
            )
        (work / "alertmanager.yml").write_text(yaml.safe_dump(am_config))
        start(
            "alertmanager",
            [
                alertmanager,
                f"--config.file={work / 'alertmanager.yml'}",
                f"--storage.path={work / 'am'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            f"http://127.0.0.1:{am_port}/-/ready",
        )

        prom_config = {
            "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
            "rule_files": [str(rules)],
            "alerting": {
                "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]
            },
            "scrape_configs": [
                {
                    "job_name": "hypervisor",
                    "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}],
                }
            ],
        }
        (work / "prometheus.yml").write_text(yaml.safe_dump(prom_config))
        start(
            "prometheus",
            [
                prometheus,
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            f"http://127.0.0.1:{prom_port}/-/ready",
        )

        print(
            f"""
hypervisor-exporter demo is up (logs and configs in {work}):

  exporter      http://127.0.0.1:{exporter_port}/          targets and their last result
                http://127.0.0.1:{exporter_port}/metrics
  Prometheus    http://127.0.0.1:{prom_port}/alerts    the shipped alerts, pending and firing
                http://127.0.0.1:{prom_port}/rules     rules incl. the autostart recording rules
                http://127.0.0.1:{prom_port}/graph?g0.expr=hypervisor_vm_power_state%3D%3D1
  Alertmanager  http://127.0.0.1:{am_port}/          routing of alerts/alertmanager.example.yaml

Notifications are printed below as they arrive ([pager] critical, [tickets] warning).
{
                "Every for: is 10s and the autostart grace 10s (--fast)."
                if args.fast
                else "The shipped for: durations apply (minutes); --fast shows alerts sooner."
            }
To watch HypervisorVMAutostartFailed, point the exporter at a real libvirtd
(--config.file with uri qemu:///system), then `virsh autostart VM; virsh destroy VM`.
Ctrl-C stops everything.
""",
            flush=True,
        )
        # Ctrl-C and a plain kill both stop the peers (set explicitly: a shell that starts
        # the demo in the background ignores SIGINT for it).
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: sys.exit(0))
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)
        print("demo stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
