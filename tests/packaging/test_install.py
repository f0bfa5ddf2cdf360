"""The README's install routes work as written: the license, pipx from a checkout and from a
Git URL, and the hardened systemd unit (checked by systemd's own analyzer)."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.process import Peer, free_port, http_ok, running
from tests.conftest import ROOT
from tests.core.test_constraints import dist_name, pinned

UNIT = ROOT / "packaging" / "systemd" / "hypervisor-exporter.service"
UNIT_BINARY = "/usr/local/bin/hypervisor-exporter"  # where the README's pipx command puts it
IGNORED = (".git", ".venv", ".cache", "build", "dist", "*.egg-info", "__pycache__", ".*_cache")


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:  # a missing tool is a failure, not a skip
        raise RuntimeError(f"{name} is not installed: run scripts/install-test-deps.sh")
    return path


def run(
    *argv: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


@contextlib.contextmanager
def served(body: bytes) -> Iterator[str]:
    """`body` served over HTTP on loopback, as a web server serves constraints.txt; yields
    its URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/constraints.txt"
    finally:
        server.shutdown()
        server.server_close()


def venv_versions(python: Path) -> dict[str, str]:
    """{normalised name: version} of what pip installed into the venv of `python` (not
    Debian's packages that --system-site-packages makes visible)."""
    script = (
        "import importlib.metadata as m, json, sys\n"
        "own = [p for p in sys.path if p.startswith(sys.prefix)]\n"
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions(path=own)}))"
    )
    result = run(str(python), "-c", script)
    assert result.returncode == 0, result.stderr
    return {dist_name(name): version for name, version in json.loads(result.stdout).items()}


def test_license_is_the_apache_license_pyproject_declares() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == (
        "Apache-2.0"
    )
    assert re.search(r"Apache License\s+Version 2\.0, January 2004", text)
    assert "END OF TERMS AND CONDITIONS" in text
    assert "APPENDIX: How to apply the Apache License to your work." in text
    # All nine sections of the terms, not an abbreviation.
    for n, title in enumerate(
        [
            "Definitions",
            "Grant of Copyright License",
            "Grant of Patent License",
            "Redistribution",
            "Submission of Contributions",
            "Trademarks",
            "Disclaimer of Warranty",
            "Limitation of Liability",
            "Accepting Warranty or Additional Liability",
        ],
        start=1,
    ):
        assert f"{n}. {title}." in text, title


def unit_for(binary: Path, where: Path) -> Path:
    """The shipped unit with ExecStart pointing at `binary` (verify needs it to exist)."""
    text = UNIT.read_text()
    assert UNIT_BINARY in text
    path = where / UNIT.name
    path.write_text(text.replace(UNIT_BINARY, str(binary)))
    return path


def verify_unit(binary: Path, where: Path) -> None:
    result = run(tool("systemd-analyze"), "verify", str(unit_for(binary, where)))
    # verify exits 0 on unknown keys too, with a warning: any output is a finding.
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr
    )


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    verify_unit(ROOT / ".venv" / "bin" / "hypervisor-exporter", tmp_path)


def test_systemd_unit_is_hardened(tmp_path: Path) -> None:
    unit = unit_for(ROOT / ".venv" / "bin" / "hypervisor-exporter", tmp_path)
    settings = dict(
        line.split("=", 1) for line in UNIT.read_text().splitlines() if re.match(r"^\w+=", line)
    )
    for key, value in {
        "DynamicUser": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert settings.get(key) == value, f"{key}={settings.get(key)}"
    result = run(tool("systemd-analyze"), "security", "--offline=yes", str(unit))
    score = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", result.stdout)
    assert score, result.stdout + result.stderr
    # systemd's scale: 0 locked down ... 10 unprotected; an ordinary unit scores 9.6 UNSAFE.
    assert float(score[1]) <= 2.0 and score[2] == "OK", score[0]


@pytest.mark.slow
@pytest.mark.parametrize("source", ["checkout", "git-url"])
def test_pipx_install_runs_the_exporter(tmp_path: Path, source: str) -> None:
    # As the README says: --system-site-packages so Debian's python3-rados imports, pip
    # builds libvirt-python against libvirt-dev (scripts/bootstrap.sh installs the build deps),
    # and --pip-args with constraints.txt: from a checkout in its folder, from Git by URL.
    env = {"PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(tmp_path / "bin")}
    with contextlib.ExitStack() as stack:
        if source == "checkout":
            # A copy of the checkout without what is ignored: pip builds in the tree it is
            # given (build/, *.egg-info), which must not go stale in the repository.
            cwd = tmp_path / "checkout"
            shutil.copytree(ROOT, cwd, ignore=shutil.ignore_patterns(*IGNORED))
            spec, constraints = ".", "constraints.txt"
        else:
            cwd = tmp_path
            commit = run("git", "-C", str(ROOT), "rev-parse", "HEAD").stdout.strip()
            spec = f"git+file://localhost{ROOT}@{commit}"
            committed = run("git", "-C", str(ROOT), "show", f"{commit}:constraints.txt")
            constraints = stack.enter_context(served(committed.stdout.encode()))
        result = run(
            tool("pipx"),
            "install",
            "--system-site-packages",
            f"--pip-args=-c {constraints}",
            spec,
            env=env,
            cwd=cwd,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    binary = tmp_path / "bin" / "hypervisor-exporter"
    version = run(str(binary), "--version")
    assert version.returncode == 0 and version.stdout.startswith("hypervisor-exporter "), version
    python = tmp_path / "pipx" / "venvs" / "hypervisor-exporter" / "bin" / "python"
    assert run(str(python), "-c", "import rados, libvirt").returncode == 0, "Ceph, libvirt"
    # Every dependency at the version constraints.txt pins.
    installed, pins = venv_versions(python), pinned()
    assert {"aiohttp", "libvirt-python", "pyvmomi", "openstacksdk"} <= installed.keys()
    off = {name: (version, pins[name]) for name, version in installed.items() if name in pins}
    off = {name: pair for name, pair in off.items() if pair[0] != pair[1]}
    assert not off, f"installed (version, pinned): {off}"
    # The installed command serves the embedded demo config (libvirt test:///default).
    port = free_port()
    argv = [str(binary), f"--web.listen-address=127.0.0.1:{port}"]
    with running(Peer("pipx-exporter", argv, tmp_path / "logs")) as peer:
        peer.wait_ready(lambda: http_ok(f"http://127.0.0.1:{port}/-/ready"), timeout=30)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
            body = response.read().decode()
        assert re.search(r'^hypervisor_target_up\{[^}]*target="demo"[^}]*\} 1', body, re.M), body
    # And the shipped unit verifies against this real install.
    verify_unit(binary, tmp_path)
