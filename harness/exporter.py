"""The exporter itself as a real process on a free port, for end-to-end tests."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from harness.process import Peer, free_port, http_ok


class Exporter(Peer):
    def __init__(
        self,
        config: dict[str, Any] | str | None,
        log_dir: Path,
        *extra: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [
            sys.executable,
            "-m",
            "exporter",
            f"--web.listen-address=127.0.0.1:{self.port}",
            *extra,
        ]
        if config is not None:
            path = log_dir / f"exporter-{self.port}.yaml"
            log_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
            argv.append(f"--config.file={path}")
        super().__init__(f"exporter-{self.port}", argv, log_dir, env=env)
        self.wait_ready(lambda: http_ok(self.url + "/-/ready"), timeout=30)

    def get(self, path: str, timeout: float = 60) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def metrics(self, path: str = "/metrics") -> str:
        status, body = self.get(path)
        assert status == 200, body
        return body
