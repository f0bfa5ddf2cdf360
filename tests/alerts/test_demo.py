"""scripts/demo.sh: one command brings up exporter, Prometheus and Alertmanager with the
shipped rules, says where to look, and Ctrl-C stops and removes all of it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from harness.process import wait_until
from tests.conftest import ROOT


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@pytest.mark.slow  # the demo script starts Prometheus and Alertmanager
def test_demo_serves_the_shipped_rules_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    out = tmp_path / "demo.out"
    with open(out, "wb") as sink:
        demo = subprocess.Popen(
            [str(ROOT / "scripts" / "demo.sh"), "--fast"], stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        wait_until(lambda: "Ctrl-C stops everything" in out.read_text(), 60, "demo banner")
        text = out.read_text()
        prometheus = re.search(r"Prometheus\s+(http://127\.0\.0\.1:\d+)/alerts", text)
        exporter = re.search(r"exporter\s+(http://127\.0\.0\.1:\d+)/ ", text)
        workdir = re.search(r"logs and configs in (\S+)\)", text)
        assert prometheus and exporter and workdir, text
        groups = get_json(prometheus[1] + "/api/v1/rules")["data"]["groups"]
        alerts = {r["name"] for g in groups for r in g["rules"] if r["type"] == "alerting"}
        assert "HypervisorVMAutostartFailed" in alerts
        assert all(
            r["duration"] == 10 for g in groups for r in g["rules"] if r["type"] == "alerting"
        ), "--fast sets every for: to 10s"

        def scraped() -> bool:
            query = prometheus[1] + "/api/v1/query?query=hypervisor_target_up"
            return bool(get_json(query)["data"]["result"])

        wait_until(scraped, 60, "Prometheus scraping the demo exporter")
        alertmanagers = get_json(prometheus[1] + "/api/v1/alertmanagers")["data"]
        assert alertmanagers["activeAlertmanagers"], "Prometheus sends to the demo Alertmanager"
    finally:
        demo.send_signal(signal.SIGINT)
        code = demo.wait(30)
    assert code == 0, out.read_text()
    assert "demo stopped" in out.read_text()
    assert not Path(workdir[1]).exists(), "the demo's temporary directory is removed"
    time.sleep(0.5)
    for url in (prometheus[1], exporter[1]):
        try:
            urllib.request.urlopen(url + "/-/ready", timeout=2)
        except OSError:
            continue
        raise AssertionError(f"{url} still answers after Ctrl-C")
