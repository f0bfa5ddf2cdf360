"""The HTTP endpoints in-process, on targets of the fake kind: what each one serves, how a
scrape's own timeout and an unknown target are answered, and basic auth in front of all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from exporter.collectors import Kind
from exporter.config import parse_config
from exporter.http import CONTENT_TYPE, create_app
from exporter.webconfig import MIN_COST, load_web_config
from harness import exposition
from harness.exporter import authorization, basic_auth_users
from tests.core.fake_kind import FakeCollector, FakeTarget

Client = TestClient[web.Request, web.Application]

CONFIG = """\
targets:
  - {name: one, kind: fake, endpoint: 'fake://one', password: four}
  - {name: "two<b>", kind: fake, endpoint: 'fake://two', password: seven!!}
  - {name: slow, kind: fake, endpoint: 'fake://hang', password: x, timeout: 30}
"""


@pytest.fixture
async def client(fake_kind: Kind[FakeTarget]) -> AsyncIterator[Client]:
    app = create_app(parse_config(CONFIG, "test.yaml"))
    async with TestClient(TestServer(app)) as client:
        yield client
        for collector in FakeCollector.made:
            collector.gate.set()


async def get(client: Client, path: str, **headers: str) -> tuple[int, str, str]:
    answer = await client.get(path, headers=headers)
    return answer.status, answer.headers.get("Content-Type", ""), await answer.text()


async def test_probe_serves_one_target_and_its_own_series(client: Client) -> None:
    status, kind, text = await get(client, "/probe?target=one")
    assert status == 200 and kind == CONTENT_TYPE
    assert exposition.promtool_lint(text) == ""
    parsed = exposition.parse(text)
    assert exposition.value(text, "hypervisor_host_maintenance_mode", target="one") == 4
    assert exposition.value(text, "hypervisor_target_up", target="one", kind="fake") == 1
    assert {labels["target"] for series in parsed.values() for labels, _ in series} == {"one"}
    assert "hypervisor_exporter_build_info" not in parsed


async def test_probe_refuses_a_missing_or_unknown_target(client: Client) -> None:
    status, _, text = await get(client, "/probe")
    assert status == 400 and "missing parameter: /probe?target=NAME" in text
    status, _, text = await get(client, "/probe?target=three")
    assert status == 404
    assert text == "unknown target 'three'; configured targets: one, slow, two<b>\n"


async def test_metrics_serves_every_target_and_the_exporter(client: Client) -> None:
    status, kind, text = await get(
        client, "/metrics", **{"X-Prometheus-Scrape-Timeout-Seconds": "1.5"}
    )
    assert status == 200 and kind == CONTENT_TYPE
    assert exposition.value(text, "hypervisor_host_maintenance_mode", target="two<b>") == 7
    up = {
        t: exposition.value(text, "hypervisor_target_up", target=t)
        for t in ("one", "two<b>", "slow")
    }
    # The slow target is cut at Prometheus' timeout less the margin, not at its own 30 s.
    assert up == {"one": 1, "two<b>": 1, "slow": 0}
    assert exposition.value(text, "hypervisor_exporter_build_info") == 1
    assert exposition.value(text, "hypervisor_exporter_config_last_reload_successful") == 1
    assert "process_cpu_seconds_total" in text

    status, kind, page = await get(client, "/")
    assert status == 200 and kind.startswith("text/html")
    assert "two&lt;b&gt;</a>" in page
    assert "<b>" not in page.replace("<body>", "")
    assert "down: collection timed out after 1s" in page
    assert "up, 1 series in" in page


async def test_health_and_readiness(client: Client) -> None:
    assert await get(client, "/-/healthy") == (200, "text/plain; charset=utf-8", "Healthy\n")
    status, _, text = await get(client, "/-/ready")
    assert status == 200 and text == "Ready: 3 targets\n"


async def test_basic_auth_guards_every_endpoint(
    fake_kind: Kind[FakeTarget], tmp_path: Path
) -> None:
    path = tmp_path / "web.yaml"
    path.write_text(basic_auth_users("s3cret", cost=MIN_COST))
    app = create_app(parse_config(CONFIG, "test.yaml"), web_config=load_web_config(str(path)))
    good, bad = authorization("prometheus", "s3cret"), authorization("prometheus", "wrong")
    async with TestClient(TestServer(app)) as client:
        for endpoint in ("/-/healthy", "/probe?target=one", "/"):
            for header in ({}, {"Authorization": bad}, {"Authorization": "Bearer x"}):
                answer = await client.get(endpoint, headers=header)
                assert answer.status == 401, (endpoint, header)
                assert answer.headers["WWW-Authenticate"] == 'Basic realm="hypervisor-exporter"'
            answer = await client.get(endpoint, headers={"Authorization": good})
            assert answer.status == 200, endpoint
