"""The HTTP server: /, /metrics, /probe, /-/healthy, /-/ready and POST /-/reload."""

from __future__ import annotations

import asyncio
import gzip
import html
import platform
import time

from aiohttp import web
from prometheus_client import REGISTRY, generate_latest

from exporter import __version__
from exporter import families as fam
from exporter.blocking import WorkerPool
from exporter.config import Config
from exporter.metrics import SampleSet, render
from exporter.reload import Reloader, ReloadStatus, fingerprint, reload_handler
from exporter.runner import CollectionResult, TargetRunner
from exporter.webconfig import WebConfig, auth_middleware

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Leave Prometheus time to receive the answer when it tells us its scrape timeout.
SCRAPE_TIMEOUT_MARGIN = 0.5

# gzip level 1: Prometheus text shrinks about 10x at a few percent of a scrape's CPU; higher
# levels cost several times more for little more (see docs/benchmarks.md).
GZIP_LEVEL = 1
GZIP_MIN_BYTES = 1024

RUNNERS = web.AppKey("runners", dict[str, TargetRunner])
CONFIG = web.AppKey("config", Config)
POOL = web.AppKey("pool", WorkerPool)


class Live:
    """What a reload replaces while the app runs (aiohttp freezes the app's own keys)."""

    def __init__(self, web_config: WebConfig) -> None:
        self.web_config = web_config
        self.reloader: Reloader | None = None
        self.status = ReloadStatus()
        self.stopping = asyncio.Event()  # set on SIGTERM: scrapes in flight answer at once

    def reload_samples(self) -> SampleSet:
        status = self.reloader.status if self.reloader is not None else self.status
        out = SampleSet()
        out.add(fam.CONFIG_LAST_RELOAD_SUCCESSFUL, 1.0 if status.successful else 0.0)
        out.add(fam.CONFIG_LAST_RELOAD_SUCCESS, status.success_time)
        return out


LIVE = web.AppKey("live", Live)


def build_info() -> SampleSet:
    out = SampleSet()
    out.add(fam.BUILD_INFO, 1.0, version=__version__, python=platform.python_version())
    return out


def _scrape_timeout(request: web.Request) -> float | None:
    header = request.headers.get("X-Prometheus-Scrape-Timeout-Seconds")
    try:
        return max(0.1, float(header) - SCRAPE_TIMEOUT_MARGIN) if header else None
    except ValueError:
        return None


async def _collect(
    request: web.Request, runners: list[TargetRunner], timeout: float | None
) -> list[SampleSet]:
    scrapes = asyncio.gather(*(runner.scrape(timeout) for runner in runners))
    stopping = asyncio.ensure_future(request.app[LIVE].stopping.wait())
    await asyncio.wait((scrapes, stopping), return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if scrapes.done():
        results = scrapes.result()
    else:  # SIGTERM: answer now, the collections are abandoned with the process
        scrapes.cancel()
        now = time.time()
        results = [
            CollectionResult(SampleSet(), False, 0.0, now, "the exporter is stopping")
            for _ in runners
        ]
    out = [result.samples for result in results]
    out.extend(runner.own_samples(result) for runner, result in zip(runners, results, strict=True))
    return out


def _accepts_gzip(request: web.Request) -> bool:
    """Accept-Encoding names gzip (Prometheus sends `gzip`) with a weight above 0."""
    for part in request.headers.get("Accept-Encoding", "").split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        if coding.lower() not in ("gzip", "x-gzip"):
            continue
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


async def exposition(request: web.Request, body: str) -> web.Response:
    """The exposition answer, gzip-compressed (in a worker thread: a large one takes tens
    of milliseconds) when the client accepts it."""
    headers = {"Content-Type": CONTENT_TYPE, "Vary": "Accept-Encoding"}
    data = body.encode()
    if len(data) >= GZIP_MIN_BYTES and _accepts_gzip(request):
        data = await asyncio.to_thread(gzip.compress, data, GZIP_LEVEL)
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=data, headers=headers)


async def metrics(request: web.Request) -> web.Response:
    runners = list(request.app[RUNNERS].values())
    sets = await _collect(request, runners, _scrape_timeout(request))
    sets.append(build_info())
    sets.append(request.app[LIVE].reload_samples())
    body = render(sets) + generate_latest(REGISTRY).decode()
    return await exposition(request, body)


async def probe(request: web.Request) -> web.Response:
    name = request.query.get("target")
    runners = request.app[RUNNERS]
    if not name:
        raise web.HTTPBadRequest(text="missing parameter: /probe?target=NAME\n")
    if name not in runners:
        known = ", ".join(sorted(runners)) or "none"
        raise web.HTTPNotFound(text=f"unknown target {name!r}; configured targets: {known}\n")
    sets = await _collect(request, [runners[name]], _scrape_timeout(request))
    return await exposition(request, render(sets))


async def healthy(_: web.Request) -> web.Response:
    return web.Response(text="Healthy\n")


async def ready(request: web.Request) -> web.Response:
    # The app only exists once its config is loaded and validated.
    return web.Response(text=f"Ready: {len(request.app[RUNNERS])} targets\n")


async def landing(request: web.Request) -> web.Response:
    rows = []
    for name, runner in request.app[RUNNERS].items():
        last = runner.last
        if last is None:
            result = "not collected yet"
        elif last.up:
            ago = time.time() - last.finished_at
            result = f"up, {len(last.samples)} series in {last.duration:.3f}s, {ago:.0f}s ago"
        else:
            result = f"down: {last.error}"
        rows.append(
            f"<tr><td><a href='/probe?target={html.escape(name)}'>{html.escape(name)}</a></td>"
            f"<td>{html.escape(runner.target.kind)}</td><td>{html.escape(result)}</td></tr>"
        )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>hypervisor-exporter</title></head>
<body><h1>hypervisor-exporter {html.escape(__version__)}</h1>
<p>Config: {html.escape(request.app[CONFIG].source)}</p>
<table border="1" cellpadding="4"><tr><th>target</th><th>kind</th><th>last result</th></tr>
{"".join(rows)}</table>
<p><a href="/metrics">/metrics</a> · /probe?target=NAME ·
<a href="/-/healthy">/-/healthy</a> · <a href="/-/ready">/-/ready</a></p>
</body></html>
"""
    return web.Response(text=page, content_type="text/html")


def apply_config(app: web.Application, config: Config) -> list[TargetRunner]:
    """Makes `config` the one served; returns the runners no longer used (to close).

    A target whose config is unchanged keeps its runner, so its lane and its connection.
    """
    runners = app[RUNNERS]
    kept: dict[str, TargetRunner] = {}
    for target in config.targets:
        old = runners.get(target.name)
        if old is not None and fingerprint(old.target) == fingerprint(target):
            kept[target.name] = old
        else:
            kept[target.name] = TargetRunner.of(target, app[POOL])
    retired = [runner for name, runner in runners.items() if kept.get(name) is not runner]
    for runner in retired:
        app[POOL].remove(runner.lane)
    # The same dict, changed in place: handlers read it per request.
    runners.clear()
    runners.update(kept)
    return retired


def create_app(
    config: Config, pool: WorkerPool | None = None, web_config: WebConfig | None = None
) -> web.Application:
    """The application for `config`: one runner and one worker lane per target."""
    pool = pool or WorkerPool()
    live = Live(web_config or WebConfig())
    app = web.Application(middlewares=[auth_middleware(lambda: live.web_config)])
    app[CONFIG] = config
    app[POOL] = pool
    app[LIVE] = live
    app[RUNNERS] = {t.name: TargetRunner.of(t, pool) for t in config.targets}
    app.router.add_post("/-/reload", reload_handler(lambda: live.reloader))
    app.router.add_get("/", landing)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/probe", probe)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)

    async def close_collectors(app: web.Application) -> None:
        await asyncio.gather(*(runner.close() for runner in app[RUNNERS].values()))
        app[POOL].shutdown()

    app.on_cleanup.append(close_collectors)
    return app
