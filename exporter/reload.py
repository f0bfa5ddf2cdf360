"""Reload without restart: SIGHUP and POST /-/reload re-read the config and the web config.

A new config is loaded and checked completely before anything changes; a refused one is
logged with all its errors and the old one keeps serving. Targets whose config did not
change keep their runner, lane and open connection; removed or changed ones are closed in
the background (a hung one cannot hold the reload).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from exporter.config import Config, ConfigError, load_config
from exporter.logs import register_secrets
from exporter.runner import TargetRunner
from exporter.targets import Secret, TargetConfig
from exporter.webconfig import WebConfig, load_web_config

log = logging.getLogger("exporter.reload")


@dataclass
class ReloadStatus:
    successful: bool = True
    success_time: float = field(default_factory=time.time)


def fingerprint(target: TargetConfig) -> tuple[Any, ...]:
    """What makes two target configs the same: kind and every key, secrets by value."""
    values: list[Any] = [type(target)]
    for f in dataclasses.fields(target):
        value = getattr(target, f.name)
        if isinstance(value, Secret):
            value = ("secret", value.origin, value.reveal())
        values.append((f.name, value))
    return tuple(values)


@dataclass
class Reloader:
    """Knows where the config came from and how to apply a new one to the running app."""

    config_path: str | None
    web_config_path: str | None
    apply_config: Callable[[Config], list[TargetRunner]]  # returns the runners to close
    apply_web_config: Callable[[WebConfig], None]
    tls_enabled: bool
    replace_tls: Callable[[ssl.SSLContext], None] | None = None
    status: ReloadStatus = field(default_factory=ReloadStatus)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def reload(self) -> list[str]:
        """Reloads; returns the problems that refused the new config (empty on success)."""
        async with self._lock:
            try:
                config, web_config = await asyncio.to_thread(self._load)
            except ConfigError as err:
                self.status.successful = False
                problems = str(err).splitlines()
                for problem in problems:
                    log.error(
                        "reload refused, the previous config keeps serving",
                        extra={"fields": {"problem": problem}},
                    )
                return problems
            register_secrets(secret.reveal() for secret in config.secrets())
            self.apply_web_config(web_config)
            if web_config.ssl_context is not None and self.replace_tls is not None:
                self.replace_tls(web_config.ssl_context)
            retired = self.apply_config(config)
            for runner in retired:
                task = asyncio.create_task(runner.close())
                _background.add(task)
                task.add_done_callback(_background.discard)
            self.status.successful = True
            self.status.success_time = time.time()
            log.info(
                "config reloaded",
                extra={"fields": {"targets": len(config.targets), "closed": len(retired)}},
            )
            return []

    def _load(self) -> tuple[Config, WebConfig]:
        config = load_config(self.config_path)
        web_config = load_web_config(self.web_config_path) if self.web_config_path else WebConfig()
        if (web_config.ssl_context is not None) != self.tls_enabled:
            raise ConfigError(
                f"{self.web_config_path}: turning TLS on or off needs a restart; certificates,"
                " keys, client CAs and users reload"
            )
        return config, web_config


_background: set[asyncio.Task[None]] = set()


def reload_handler(reloader: Callable[[], Reloader | None]) -> Callable[[web.Request], Any]:
    async def handle(_: web.Request) -> web.Response:
        current = reloader()
        if current is None:
            raise web.HTTPNotFound(text="reload is not configured\n")
        problems = await current.reload()
        if problems:
            return web.Response(
                status=500,
                text="reload refused, the previous config keeps serving:\n"
                + "\n".join(problems)
                + "\n",
            )
        return web.Response(text="Reloaded\n")

    return handle
