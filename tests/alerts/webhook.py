"""An Alertmanager webhook receiver for the alert tests, the shipped Alertmanager example
pointed at it, and the whole path the end-to-end tests run: the exporter, a real
Prometheus with the shipped rules (for: and grace shortened in a rendered copy), a real
Alertmanager, the webhook."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from harness.exporter import Exporter
from harness.process import Peer, free_port, wait_until
from harness.prometheus import Alertmanager, Prometheus
from tests.alerts.conftest import ALERTMANAGER_EXAMPLE, RENDER

FOR = "3s"  # every alert's for: in the rendered copy (shipped: minutes)
GRACE_SECONDS = 5  # base autostart grace in the copy (shipped: 300)


@dataclass
class Notification:
    received_at: float  # time.monotonic()
    receiver: str  # URL path the Alertmanager posted to: /pager or /tickets
    body: dict[str, Any]


class Webhook:
    """An Alertmanager webhook receiver on loopback that keeps every notification."""

    def __init__(self) -> None:
        self.port = free_port()
        self.notifications: list[Notification] = []
        self._changed = threading.Condition()
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with webhook._changed:
                    webhook.notifications.append(Notification(time.monotonic(), self.path, body))
                    webhook._changed.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def alerts(self, **labels: str) -> Iterator[tuple[Notification, dict[str, Any]]]:
        for note in list(self.notifications):
            for alert in note.body["alerts"]:
                if all(alert["labels"].get(k) == v for k, v in labels.items()):
                    yield note, alert

    def wait_for(
        self, what: str, match: Callable[[Notification, dict[str, Any]], bool], timeout: float
    ) -> tuple[Notification, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for note, alert in self.alerts():
                    if match(note, alert):
                        return note, alert
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(n.receiver, a["status"], a["labels"]) for n, a in self.alerts()]
                    raise AssertionError(f"no notification {what} in {timeout}s; got {seen}")
                self._changed.wait(left)

    def wait_for_alert(
        self,
        status: str,
        alertname: str,
        timeout: float,
        *,
        after: float | None = None,
        **labels: str,
    ) -> tuple[Notification, dict[str, Any]]:
        """The first notification of `alertname` in `status` (firing, resolved) whose
        labels include `labels`, received after `after` (time.monotonic()) when given."""
        return self.wait_for(
            f"{status} {alertname} {labels}",
            lambda n, a: (
                a["status"] == status
                and a["labels"].get("alertname") == alertname
                and all(a["labels"].get(k) == v for k, v in labels.items())
                and (after is None or n.received_at > after)
            ),
            timeout,
        )

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def alertmanager_config(webhook: Webhook) -> dict[str, Any]:
    """The shipped example, receivers pointed at the webhook, waits cut to a second."""
    config: dict[str, Any] = yaml.safe_load(ALERTMANAGER_EXAMPLE.read_text())
    for receiver in config["receivers"]:
        receiver["webhook_configs"][0]["url"] = webhook.url("/" + receiver["name"])
    for route in [config["route"], *config["route"]["routes"]]:
        route["group_wait"] = route["group_interval"] = "1s"
    return config


def render_rules(workdir: Path) -> Path:
    """The shipped rules rendered with every for: at FOR and the autostart grace at
    GRACE_SECONDS, so an end-to-end test pages in seconds."""
    out = workdir / "hypervisor.rules.yaml"
    subprocess.run(
        [
            sys.executable,
            str(RENDER),
            "--for",
            FOR,
            "--autostart-grace",
            str(GRACE_SECONDS),
            "-o",
            str(out),
        ],
        check=True,
    )
    return out


@dataclass
class AlertPath:
    webhook: Webhook
    exporter: Exporter
    prometheus: Prometheus

    def wait_running(self, vm: str, timeout: float = 30) -> None:
        """Until Prometheus has scraped `vm` running (the rules have data to go on)."""
        query = f'hypervisor_vm_power_state{{vm="{vm}",state="running"}} == 1'
        wait_until(lambda: bool(self.prometheus.query(query)), timeout, f"Prometheus: {vm} runs")


@contextlib.contextmanager
def alert_path(workdir: Path, targets: list[dict[str, Any]]) -> Iterator[AlertPath]:
    """The exporter serving `targets`, scraped by a real Prometheus that evaluates the
    rendered rules (render_rules) and alerts a real Alertmanager (alertmanager_config),
    which notifies a Webhook; every one of them stopped when the block ends."""
    webhook = Webhook()
    peers: list[Peer] = []
    try:
        alertmanager = Alertmanager(workdir / "am", alertmanager_config(webhook))
        peers.append(alertmanager)
        exporter = Exporter({"targets": targets}, workdir / "exporter")
        peers.append(exporter)
        prometheus = Prometheus(
            workdir / "prometheus",
            [f"127.0.0.1:{exporter.port}"],
            [render_rules(workdir)],
            alertmanager_url=alertmanager.url,
        )
        peers.append(prometheus)
        yield AlertPath(webhook, exporter, prometheus)
    finally:
        for peer in reversed(peers):
            peer.stop()
        webhook.close()
