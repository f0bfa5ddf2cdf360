"""The exporter itself as a real process on a free port, for end-to-end tests; a run of its
command line to the end; and the client side of its web config (basic auth)."""

from __future__ import annotations

import base64
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import bcrypt
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


def run_exporter(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """`python -m exporter ARGS` run to its end (--check-config, a start that is refused),
    its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args], capture_output=True, text=True, timeout=timeout
    )


def basic_auth_users(password: str, user: str = "prometheus", cost: int = 4) -> str:
    """A web config's basic_auth_users section: `user` with `password` bcrypt-hashed at
    `cost` (4, the least bcrypt takes, keeps tests fast)."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost)).decode()
    return f"basic_auth_users:\n  {user}: '{hashed}'\n"


def authorization(user: str, password: str) -> str:
    """The Authorization header of HTTP basic auth."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def status(
    url: str,
    method: str = "GET",
    auth: tuple[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> int:
    """The HTTP status `url` answers (an error status too), with basic auth as (user,
    password) when given, over TLS with `context` for https."""
    request = urllib.request.Request(url, method=method)
    if auth:
        request.add_header("Authorization", authorization(*auth))
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code
