"""--web.config.file (TLS and basic auth) and what reaches the logs, on the real process."""

from __future__ import annotations

import base64
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest

from harness import exposition
from harness.exporter import Exporter
from harness.process import Peer, free_port


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def get(url: str, context: ssl.SSLContext, auth: str | None = None) -> int:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_tls_and_basic_auth_from_the_web_config(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    hashed = bcrypt.hashpw(b"scrape-pass", bcrypt.gensalt(rounds=4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        f"basic_auth_users:\n  prometheus: '{hashed}'\n"
    )
    port = free_port()
    peer = Peer(
        "exporter-tls",
        [
            sys.executable,
            "-m",
            "exporter",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.config.file={web}",
        ],
        tmp_path,
    )
    context = ssl.create_default_context(cafile=str(cert))
    url = f"https://127.0.0.1:{port}"
    try:
        peer.wait_ready(lambda: get(url + "/-/healthy", context) == 401, timeout=30)
        assert get(url + "/metrics", context) == 401
        assert get(url + "/metrics", context, "prometheus:wrong") == 401
        assert get(url + "/metrics", context, "prometheus:scrape-pass") == 200
        # Plain HTTP is not served.
        with pytest.raises(OSError):  # refused, reset or closed: never an answer
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
    finally:
        peer.stop()


def test_bad_web_config_is_refused(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users:\n  prometheus: plaintext\n")
    run = subprocess.run(
        [sys.executable, "-m", "exporter", "--check-config", f"--web.config.file={web}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 1
    assert "basic_auth_users: 'prometheus' must be a bcrypt hash" in run.stderr


def test_password_never_reaches_logs_or_metrics(tmp_path: Path) -> None:
    # An inline password that a failing libvirt URI echoes back must be scrubbed.
    password = "Very-Secret-Pw-42"
    config = {
        "targets": [
            {
                "name": "vc",
                "kind": "vsphere",
                "host": f"127.0.0.1:{free_port()}",
                "username": "mon",
                "password": password,
                "timeout": 3,
            },
            {
                "name": "kvm",
                "kind": "libvirt",
                "timeout": 3,
                "uri": f"qemu+tcp://127.0.0.1:{free_port()}/system?password={password}",
            },
        ]
    }
    exporter = Exporter(config, tmp_path, "--log.level=debug", "--log.format=json")
    try:
        text = exporter.metrics()
        assert exposition.value(text, "hypervisor_target_up", target="kvm") == 0
        page = exporter.get("/")[1]
    finally:
        exporter.stop()
    logs = exporter.log_path.read_text()
    assert '"target": "kvm"' in logs  # the failure was logged...
    for where in (logs, text, page):
        assert password not in where  # ...without the password
