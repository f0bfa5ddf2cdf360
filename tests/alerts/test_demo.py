"""scripts/demo.sh: one command brings up exporter, Prometheus and Alertmanager with the
shipped rules, says where to look (links that work with the installed builds), makes one
alert fire and resolve from a real condition, and Ctrl-C stops and removes all of it."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.process import wait_until
from tests.conftest import ROOT


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@dataclass
class Demo:
    out: Path
    started: float

    def text(self) -> str:
        return self.out.read_text()

    def url(self, pattern: str) -> str:
        found = re.search(pattern, self.text())
        assert found, self.text()
        return found[1]


@contextmanager
def demo(tmp_path: Path, *args: str) -> Iterator[Demo]:
    out = tmp_path / "demo.out"
    started = time.monotonic()
    with open(out, "wb") as sink:
        proc = subprocess.Popen(
            [str(ROOT / "scripts" / "demo.sh"), *args], stdout=sink, stderr=subprocess.STDOUT
        )
    running = Demo(out, started)
    try:
        wait_until(lambda: "Ctrl-C stops everything" in out.read_text(), 60, "demo banner")
        workdir = running.url(r"logs and configs in (\S+)\)")
        yield running
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    assert code == 0, out.read_text()
    assert "demo stopped" in out.read_text()
    assert not Path(workdir).exists(), "the demo's temporary directory is removed"


@pytest.mark.slow  # the demo script starts Prometheus and Alertmanager
def test_demo_serves_the_shipped_rules_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    with demo(tmp_path, "--fast") as running:
        prometheus = running.url(r"Prometheus\s+(http://127\.0\.0\.1:\d+)/")
        exporter = running.url(r"exporter\s+(http://127\.0\.0\.1:\d+)/")
        groups = get_json(prometheus + "/api/v1/rules")["data"]["groups"]
        alerts = {r["name"] for g in groups for r in g["rules"] if r["type"] == "alerting"}
        assert "HypervisorVMAutostartFailed" in alerts
        assert all(
            r["duration"] == 10 for g in groups for r in g["rules"] if r["type"] == "alerting"
        ), "--fast sets every for: to 10s"

        def scraped() -> bool:
            query = prometheus + "/api/v1/query?query=hypervisor_target_up"
            return bool(get_json(query)["data"]["result"])

        wait_until(scraped, 60, "Prometheus scraping the demo exporter")
        alertmanagers = get_json(prometheus + "/api/v1/alertmanagers")["data"]
        assert alertmanagers["activeAlertmanagers"], "Prometheus sends to the demo Alertmanager"

        # Every link of the banner answers with a page (Debian 12's Prometheus has only its
        # classic UI, its Alertmanager no UI at all), and the amtool command it shows works.
        banner = running.text().split("Notifications are printed")[0]
        links = re.findall(r"(?<![=\w])http://127\.0\.0\.1:\d+/\S*", banner)
        assert len(links) >= 6, banner
        for link in links:
            with urllib.request.urlopen(link, timeout=5) as response:
                assert response.status == 200, link
        for command in re.findall(r"^\s+(amtool .+?)\s*$", banner, re.M):
            result = subprocess.run(shlex.split(command), capture_output=True, text=True)
            assert result.returncode == 0, command + result.stderr
    for url in (prometheus, exporter):
        try:
            urllib.request.urlopen(url + "/-/ready", timeout=2)
        except OSError:
            continue
        raise AssertionError(f"{url} still answers after Ctrl-C")


@pytest.mark.slow
def test_demo_pages_and_resolves_within_two_minutes(tmp_path: Path) -> None:
    # Out of the box (no --fast): the banner names the alert and why, the page and its
    # resolve reach the printed notifications within two minutes of `make demo`.
    with demo(tmp_path) as running:
        assert "HypervisorTargetDown" in running.text() and "lab-kvm" in running.text()
        prometheus = running.url(r"Prometheus\s+(http://127\.0\.0\.1:\d+)/")
        durations = {
            r["name"]: r["duration"]
            for g in get_json(prometheus + "/api/v1/rules")["data"]["groups"]
            for r in g["rules"]
            if r["type"] == "alerting"
        }
        assert durations["HypervisorTargetDown"] == 30, "shortened for the demo only"
        assert durations["HypervisorVMAutostartFailed"] == 300, "the shipped for: elsewhere"
        fired = r"\[pager \+\d+s\] FIRING HypervisorTargetDown \{[^}]*'target': 'lab-kvm'"
        resolved = fired.replace("FIRING", "RESOLVED")
        wait_until(lambda: bool(re.search(resolved, running.text())), 130, "the resolved page")
        elapsed = time.monotonic() - running.started
        text = running.text()
        assert re.search(fired, text), text
        assert elapsed < 120, f"fire and resolve took {elapsed:.0f}s:\n{text}"
        # The description quotes the for: in force, not the shipped 2 minutes.
        assert "has failed for 30 seconds" in text
        print(re.findall(r"\[(?:pager|demo) \+\d+s\][^\n]*", text))
