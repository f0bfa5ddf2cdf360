"""The chart's probes and scrape endpoints against the real exporter, started with the
Deployment's own arguments and config (only the listen address moves to a free port)."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from harness.process import Peer, free_port, http_ok, running
from tests.helm.conftest import Helm
from tests.helm.test_config import PodFilesystem


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_probes_and_probe_endpoints_answer_on_the_real_exporter(helm: Helm, tmp_path: Path) -> None:
    rendered = helm.template(
        sets=["serviceMonitor.enabled=true", "serviceMonitor.mode=probe", "log.format=json"]
    )
    pod = PodFilesystem(rendered, tmp_path / "pod")
    container = pod.container
    port = free_port()
    argv = [sys.executable, "-m", "exporter"]
    for arg in container["args"]:
        flag, _, value = arg.partition("=")
        if flag == "--config.file":
            value = str(pod.resolve(value, flag, create=False))
        elif flag == "--web.listen-address":
            value = f"127.0.0.1:{port}"
        argv.append(f"{flag}={value}")
    base = f"http://127.0.0.1:{port}"
    exporter = Peer(f"exporter-{port}", argv, tmp_path / "logs")
    with running(exporter):
        exporter.wait_ready(lambda: http_ok(base + "/-/healthy"), timeout=30)
        for probe in ("livenessProbe", "readinessProbe"):
            status, body = get(base + container[probe]["httpGet"]["path"])
            assert status == 200, f"{probe}: {status} {body}"
        for endpoint in rendered.one("ServiceMonitor")["spec"]["endpoints"]:
            (target,) = endpoint["params"]["target"]
            status, body = get(f"{base}{endpoint['path']}?target={target}")
            assert status == 200, body
            # Only that target, and collected.
            up = [
                (sample.labels["target"], sample.value)
                for family in text_string_to_metric_families(body)
                if family.name == "hypervisor_target_up"
                for sample in family.samples
            ]
            assert up == [(target, 1.0)], body
    # The flags the chart passes are the exporter's: it logged in the format asked for.
    assert exporter.log_path.read_text().lstrip().startswith("{")
