"""Real Prometheus and Alertmanager (Debian packages) on loopback, owned by the test."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from harness.process import Peer, free_port, http_ok


class Prometheus(Peer):
    """Prometheus scraping `targets` every second and evaluating `rule_files` every second."""

    def __init__(
        self,
        workdir: Path,
        scrape_targets: list[str],
        rule_files: Sequence[Path] = (),
        alertmanager_url: str | None = None,
        metrics_path: str = "/metrics",
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": "1s",
                "evaluation_interval": "1s",
                "scrape_timeout": "1s",
            },
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [
                {
                    "job_name": "hypervisor",
                    "metrics_path": metrics_path,
                    "static_configs": [{"targets": scrape_targets}],
                }
            ],
        }
        if alertmanager_url:
            config["alerting"] = {
                "alertmanagers": [
                    {"static_configs": [{"targets": [alertmanager_url.removeprefix("http://")]}]}
                ]
            }
        conf = workdir / f"prometheus-{self.port}.yml"
        conf.write_text(yaml.safe_dump(config))
        super().__init__(
            f"prometheus-{self.port}",
            [
                "prometheus",
                f"--config.file={conf}",
                f"--storage.tsdb.path={workdir}/tsdb-{self.port}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            workdir,
        )
        self.wait_ready(lambda: http_ok(self.url + "/-/ready"), timeout=30)

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = self.api("query", query=expr)
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result


class Alertmanager(Peer):
    def __init__(self, workdir: Path, config: dict[str, Any]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        conf = workdir / f"alertmanager-{self.port}.yml"
        conf.write_text(yaml.safe_dump(config))
        super().__init__(
            f"alertmanager-{self.port}",
            [
                "prometheus-alertmanager",
                f"--config.file={conf}",
                f"--storage.path={workdir}/am-{self.port}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
            ],
            workdir,
        )
        self.wait_ready(lambda: http_ok(self.url + "/-/ready"), timeout=30)
