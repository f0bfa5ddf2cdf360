"""--web.config.file (TLS and basic auth) and what reaches the logs, on the real process."""

from __future__ import annotations

import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from harness import exposition
from harness.exporter import Exporter, basic_auth_users, status
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


def test_tls_and_basic_auth_from_the_web_config(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    web = tmp_path / "web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        + basic_auth_users("scrape-pass")
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
        peer.wait_ready(lambda: status(url + "/-/healthy", context=context) == 401, timeout=30)
        assert status(url + "/metrics", context=context) == 401
        assert status(url + "/metrics", auth=("prometheus", "wrong"), context=context) == 401
        good = ("prometheus", "scrape-pass")
        assert status(url + "/metrics", auth=good, context=context) == 200
        # Plain HTTP is not served.
        with pytest.raises(OSError):  # refused, reset or closed: never an answer
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
    finally:
        peer.stop()


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
