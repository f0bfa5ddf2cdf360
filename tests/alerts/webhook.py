"""An Alertmanager webhook receiver for the alert tests, and the shipped Alertmanager
example pointed at it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml

from harness.process import free_port
from tests.alerts.conftest import ALERTMANAGER_EXAMPLE


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
