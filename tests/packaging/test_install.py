"""The README's install routes work as written: the license, pipx from a checkout and from a
Git URL, and the hardened systemd unit (checked by systemd's own analyzer)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
import urllib.request
from pathlib import Path

import pytest

from harness.process import Peer, free_port, http_ok, running
from tests.conftest import ROOT

UNIT = ROOT / "packaging" / "systemd" / "hypervisor-exporter.service"
UNIT_BINARY = "/usr/local/bin/hypervisor-exporter"  # where the README's pipx command puts it
IGNORED = (".git", ".venv", ".cache", "build", "dist", "*.egg-info", "__pycache__", ".*_cache")


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:  # a missing tool is a failure, not a skip
        raise RuntimeError(f"{name} is not installed: run scripts/install-test-deps.sh")
    return path


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})}
    )


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
    # builds libvirt-python against libvirt-dev (scripts/bootstrap.sh installs the build deps).
    if source == "checkout":
        # A copy of the checkout without what is ignored: pip builds in the tree it is given
        # (build/, *.egg-info), which must not go stale in the repository.
        spec = str(tmp_path / "checkout")
        shutil.copytree(ROOT, spec, ignore=shutil.ignore_patterns(*IGNORED))
    else:
        commit = run("git", "-C", str(ROOT), "rev-parse", "HEAD").stdout.strip()
        spec = f"git+file://localhost{ROOT}@{commit}"
    env = {"PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(tmp_path / "bin")}
    result = run(tool("pipx"), "install", "--system-site-packages", spec, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    binary = tmp_path / "bin" / "hypervisor-exporter"
    version = run(str(binary), "--version")
    assert version.returncode == 0 and version.stdout.startswith("hypervisor-exporter "), version
    python = tmp_path / "pipx" / "venvs" / "hypervisor-exporter" / "bin" / "python"
    assert run(str(python), "-c", "import rados, libvirt").returncode == 0, "Ceph, libvirt"
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
