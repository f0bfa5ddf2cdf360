#!/usr/bin/env python3
"""The exporter, Prometheus and Alertmanager on loopback with the shipped alert rules.

Run through scripts/demo.sh (or `make demo`). Everything binds to 127.0.0.1 on free ports
and lives in a temporary directory; Ctrl-C stops all of it. Notifications the Alertmanager
sends (routed by alerts/alertmanager.example.yaml) are printed here instead of paging.
Without --config.file one alert is scripted from a real condition: the libvirt host lab-kvm
is down at the start (HypervisorTargetDown pages) and boots once the page has arrived (the
page resolves), all within two minutes.
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
import textwrap
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
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


# The scripted alert: a libvirt host (libvirt's test driver, so no hypervisor is needed) that
# is down when the demo starts, pages, and is booted once the page arrives.
DOWN_TARGET = "lab-kvm"
DOWN_ALERT = "HypervisorTargetDown"
DOWN_FOR = "30s"  # the alert's for: in the demo (shipped: 2m), so it fires in about a minute
BOOT_AFTER_PAGE = 15  # seconds between the page and the host coming up
LAB_KVM_NODE = """<node>
  <domain type='test'>
    <name>web</name>
    <memory>524288</memory>
    <os><type>hvm</type></os>
  </domain>
  <domain type='test'>
    <name>db</name>
    <memory>1048576</memory>
    <os><type>hvm</type></os>
  </domain>
</node>
"""
# Alertmanager waits before the first and between later notifications of a group (shipped:
# 10s/30s and 2m/5m); the demo shortens both so the resolve arrives while you watch.
DEMO_GROUP_WAIT, DEMO_GROUP_INTERVAL = "5s", "15s"
SCRAPE_INTERVAL = "5s"
STARTED = time.monotonic()


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0


def prometheus_links(base: str) -> list[tuple[str, str]]:
    """The pages this Prometheus serves: /alerts upstream, only /classic/... in Debian 12's
    build (no React UI), the JSON API when neither answers."""
    expr = urllib.parse.quote("hypervisor_target_up")
    for prefix, graph in (("", f"/graph?g0.expr={expr}"), ("/classic", f"/graph?g0.expr={expr}")):
        if status(f"{base}{prefix}/alerts") == 200:
            return [
                (f"{base}{prefix}/alerts", "the shipped alerts, pending and firing"),
                (f"{base}{prefix}/rules", "rules incl. the autostart recording rules"),
                (f"{base}{prefix}{graph}&g0.tab=1", "hypervisor_target_up of every target"),
            ]
    return [
        (f"{base}/api/v1/alerts", "pending and firing alerts (JSON; no web UI in this build)"),
        (f"{base}/api/v1/rules", "the rules (JSON)"),
    ]


def alertmanager_links(base: str) -> list[tuple[str, str]]:
    """The web UI where it is built in; Debian 12's package has none, so the API and amtool."""
    if status(f"{base}/script.js") == 200:
        return [(f"{base}/#/alerts", "alerts as routed by alerts/alertmanager.example.yaml")]
    return [
        (f"{base}/api/v2/alerts", "alerts it holds (JSON: this build has no web UI)"),
        (f"amtool --alertmanager.url={base} alert query", ""),
    ]


def printing_webhook(
    on_alert: Callable[[str, dict[str, Any]], None],
) -> tuple[ThreadingHTTPServer, int]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            for alert in body["alerts"]:
                labels = alert["labels"]
                print(
                    f"[{self.path.strip('/')} +{time.monotonic() - STARTED:.0f}s]"
                    f" {alert['status'].upper()} {labels['alertname']}"
                    f" {dict((k, v) for k, v in labels.items() if k != 'alertname')}\n    "
                    f"{alert['annotations'].get('description', '')}",
                    flush=True,
                )
                on_alert(alert["status"], labels)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


def demo_config(work: Path) -> Path:
    """The embedded demo target plus lab-kvm, whose libvirt node file does not exist yet."""
    config = {
        "targets": [
            {"name": "demo", "kind": "libvirt", "uri": "test:///default"},
            {"name": DOWN_TARGET, "kind": "libvirt", "uri": f"test://{work / 'lab-kvm.xml'}"},
        ]
    }
    path = work / "exporter.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def boot_lab_kvm(work: Path) -> None:
    node = work / "lab-kvm.xml"
    if node.exists():
        return
    tmp = node.with_suffix(".tmp")
    tmp.write_text(LAB_KVM_NODE)
    tmp.rename(node)
    print(
        f"[demo +{time.monotonic() - STARTED:.0f}s] {DOWN_TARGET} boots now (its libvirt node"
        f" file exists): the exporter connects at the next scrape and {DOWN_ALERT} resolves"
        " within about half a minute.",
        flush=True,
    )


def shorten_groups(route: dict[str, Any]) -> None:
    route["group_wait"], route["group_interval"] = DEMO_GROUP_WAIT, DEMO_GROUP_INTERVAL
    for child in route.get("routes", []):
        shorten_groups(child)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config.file",
        dest="config",
        type=Path,
        help="exporter config (default: the demo's: libvirt test:///default and lab-kvm)",
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
    scripted = args.config is None

    def start(name: str, argv: list[str], ready_url: str) -> None:
        log = work / f"{name}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        procs.append(proc)
        wait_ready(name, ready_url, proc, log)

    def on_alert(state: str, labels: dict[str, Any]) -> None:
        if (
            scripted
            and state == "firing"
            and labels.get("alertname") == DOWN_ALERT
            and labels.get("target") == DOWN_TARGET
        ):
            timer = threading.Timer(BOOT_AFTER_PAGE, boot_lab_kvm, args=(work,))
            timer.daemon = True
            timer.start()

    try:
        _webhook, hook_port = printing_webhook(on_alert)
        exporter_port, prom_port, am_port = free_port(), free_port(), free_port()
        config = args.config.resolve() if args.config else demo_config(work)
        start(
            "exporter",
            [
                sys.executable,
                "-m",
                "exporter",
                f"--web.listen-address=127.0.0.1:{exporter_port}",
                f"--config.file={config}",
            ],
            f"http://127.0.0.1:{exporter_port}/-/ready",
        )

        rules = work / "hypervisor.rules.yaml"
        render = [sys.executable, str(ROOT / "scripts" / "render-rules.py"), "-o", str(rules)]
        if args.fast:
            render += ["--for", "10s", "--autostart-grace", "10"]
        elif scripted:
            render += ["--for", f"{DOWN_ALERT}={DOWN_FOR}"]
        subprocess.run(render, check=True)

        am_config = yaml.safe_load((ROOT / "alerts" / "alertmanager.example.yaml").read_text())
        for receiver in am_config["receivers"]:
            receiver["webhook_configs"][0]["url"] = (
                f"http://127.0.0.1:{hook_port}/{receiver['name']}"
            )
        shorten_groups(am_config["route"])
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
            "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
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
        print(banner(args.fast, scripted, work, exporter_port, prom_port, am_port), flush=True)
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


def banner(
    fast: bool, scripted: bool, work: Path, exporter_port: int, prom_port: int, am_port: int
) -> str:
    exporter = f"http://127.0.0.1:{exporter_port}"
    sections = [
        (
            "exporter",
            [(f"{exporter}/", "targets and their last result"), (f"{exporter}/metrics", "")],
        ),
        ("Prometheus", prometheus_links(f"http://127.0.0.1:{prom_port}")),
        ("Alertmanager", alertmanager_links(f"http://127.0.0.1:{am_port}")),
    ]
    width = max(len(link) for _, links in sections for link, what in links if what)
    lines = []
    for title, links in sections:
        for i, (link, what) in enumerate(links):
            lines.append(f"  {title if i == 0 else '':<13} {link:<{width}}  {what}".rstrip())
    if fast:
        timing = "Every for: is 10s and the autostart grace 10s (--fast)."
    elif scripted:
        timing = (
            f"The shipped for: durations apply (minutes), except {DOWN_ALERT}'s: {DOWN_FOR}"
            " instead of 2m, so that it fires while you watch; --fast makes every for: 10s."
        )
    else:
        timing = "The shipped for: durations apply (minutes); --fast shows alerts sooner."
    if scripted:
        watch = (
            f"What to watch: target {DOWN_TARGET} is a libvirt host (libvirt's test driver)"
            " that is down: its connection cannot be opened (the landing page and the exporter"
            f' log say why), so hypervisor_target_up{{target="{DOWN_TARGET}"}} is 0 and'
            f" {DOWN_ALERT} (critical) pages [pager] below once its for: has passed, about a"
            f" minute from now. {BOOT_AFTER_PAGE}s after the page the demo boots the host and"
            " the page resolves about half a minute later. Alertmanager's group_wait and"
            f" group_interval are {DEMO_GROUP_WAIT} and {DEMO_GROUP_INTERVAL} here, so the"
            " resolve does not wait minutes."
        )
    else:
        watch = (
            "Your config is collected as it is: nothing is scripted to fail. To watch"
            " HypervisorVMAutostartFailed, point it at a real libvirtd (uri qemu:///system),"
            " then `virsh autostart VM; virsh destroy VM`."
        )
    text = "\n\n".join(
        textwrap.fill(paragraph, 92)
        for paragraph in (
            "Notifications are printed below as they arrive ([pager] critical, [tickets]"
            " warning), with the seconds since the demo started.",
            timing,
            watch,
        )
    )
    return f"""
hypervisor-exporter demo is up (logs and configs in {work}):

{chr(10).join(lines)}

{text}

Ctrl-C stops everything.
"""


if __name__ == "__main__":
    sys.exit(main())
