"""/metrics and /probe answer gzip when the client asks for it, as Prometheus does."""

from __future__ import annotations

import gzip
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import exposition
from harness.exporter import Exporter
from tests.conftest import starts_peer


@pytest.fixture(scope="module")
@starts_peer
def exporter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exporter]:
    workdir: Path = tmp_path_factory.mktemp("gzip")
    peer = Exporter(
        {"targets": [{"name": "demo", "kind": "libvirt", "uri": "test:///default"}]}, workdir
    )
    yield peer
    peer.stop()


def fetch(url: str, accept: str | None) -> tuple[dict[str, str], bytes]:
    request = urllib.request.Request(url)
    if accept is not None:
        request.add_header("Accept-Encoding", accept)
    with urllib.request.urlopen(request, timeout=60) as response:
        return dict(response.headers.items()), response.read()


def series(text: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {
        (name, tuple(sorted(labels.items())))
        for name, samples in exposition.parse(text).items()
        for labels, _ in samples
    }


@pytest.mark.parametrize("path", ["/metrics", "/probe?target=demo"])
def test_gzip_when_asked(exporter: Exporter, path: str) -> None:
    # Window families (rates) appear from the second collection on: compare after it.
    fetch(exporter.url + path, None)
    plain_headers, plain = fetch(exporter.url + path, None)
    assert "Content-Encoding" not in plain_headers
    # What Prometheus sends.
    headers, body = fetch(exporter.url + path, "gzip")
    assert headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in headers["Vary"]
    text = gzip.decompress(body).decode()
    assert 'hypervisor_target_up{target="demo",kind="libvirt"} 1' in text
    assert series(text) == series(plain.decode())
    assert len(body) < len(plain) / 3


@pytest.mark.parametrize("accept", ["identity", "gzip;q=0", "deflate, br"])
def test_no_gzip_when_not_accepted(exporter: Exporter, accept: str) -> None:
    headers, body = fetch(exporter.url + "/metrics", accept)
    assert "Content-Encoding" not in headers
    assert "hypervisor_target_up" in body.decode()
