"""The Containerfile built for real (buildah, chroot isolation, a Debian 12 base made from the
Debian mirror), then run the way the chart runs it. About 3 minutes, hence `slow`."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from harness.buildah import Buildah
from harness.process import free_port, http_ok, running
from tests.conftest import ROOT, starts_peer
from tests.helm.conftest import CHART, Helm

pytestmark = pytest.mark.slow
IMAGE = "localhost/hypervisor-exporter:test"


@pytest.fixture(scope="module")
@starts_peer
def buildah(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Buildah]:
    builder = Buildah(tmp_path_factory.mktemp("buildah"))
    try:
        base = builder.debian_base("localhost/debian-base:12")
        builder.build(ROOT, ROOT / "Containerfile", IMAGE, {"DEBIAN_IMAGE": base})
        yield builder
    finally:
        builder.cleanup()


@pytest.fixture(scope="module")
def values() -> dict[str, object]:
    loaded: dict[str, object] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


def test_image_config_matches_the_chart(buildah: Buildah, values: dict[str, object]) -> None:
    config = buildah.image_config(IMAGE)
    pod = values["podSecurityContext"]
    assert isinstance(pod, dict)
    assert config["User"] == f"{pod['runAsUser']}:{pod['runAsGroup']}"
    assert set(config["ExposedPorts"]) == {f"{values['containerPort']}/tcp"}
    assert config["Entrypoint"] == ["/opt/hypervisor-exporter/bin/hypervisor-exporter"]


def test_venv_sees_librados_and_libvirt_as_the_non_root_user(buildah: Buildah) -> None:
    container = buildah.container(IMAGE)
    assert buildah.run(container, ["id", "-u"]).strip() == "10001"
    out = buildah.run(
        container,
        [
            "/opt/hypervisor-exporter/bin/python",
            "-c",
            "import rados, libvirt, exporter; print(rados.__file__); print(exporter.__file__)",
        ],
    ).splitlines()
    assert out[0].startswith("/usr/lib/python3/dist-packages/rados")  # Debian's python3-rados
    assert out[1].startswith("/opt/hypervisor-exporter/lib/python3")  # installed, not a copy
    with pytest.raises(RuntimeError):  # no compilers left in the runtime image
        buildah.run(container, ["sh", "-c", "command -v gcc"])


def test_image_serves_with_the_charts_arguments(
    buildah: Buildah, helm: Helm, tmp_path: Path
) -> None:
    rendered = helm.template(sets=["serviceMonitor.enabled=true", "serviceMonitor.mode=probe"])
    deployment = rendered.one("Deployment")["spec"]["template"]["spec"]
    (container_spec,) = deployment["containers"]
    config = rendered.one("ConfigMap", "-config")["data"]["config.yaml"]
    # The Deployment mounts the config ConfigMap; here the same file is copied to that path.
    container = buildah.container(IMAGE)
    (tmp_path / "config.yaml").write_text(config)
    (config_flag,) = [a for a in container_spec["args"] if a.startswith("--config.file=")]
    config_path = config_flag.split("=", 1)[1]
    buildah("copy", "--chown", "10001:10001", container, str(tmp_path / "config.yaml"), config_path)
    port = free_port()
    args = [
        f"--web.listen-address=127.0.0.1:{port}" if a.startswith("--web.listen-address=") else a
        for a in container_spec["args"]
    ]
    base = f"http://127.0.0.1:{port}"
    exporter = buildah.spawn(
        container,
        ["/opt/hypervisor-exporter/bin/hypervisor-exporter", *args],
        tmp_path,
        "image-exporter",
    )
    with running(exporter):
        exporter.wait_ready(lambda: http_ok(base + "/-/healthy"), timeout=60)
        for probe in ("livenessProbe", "readinessProbe"):
            assert http_ok(base + container_spec[probe]["httpGet"]["path"]), probe
        for endpoint in rendered.one("ServiceMonitor")["spec"]["endpoints"]:
            (target,) = endpoint["params"]["target"]
            with urllib.request.urlopen(f"{base}/probe?target={target}", timeout=30) as answer:
                body = answer.read().decode()
            up = [
                s.value
                for f in text_string_to_metric_families(body)
                if f.name == "hypervisor_target_up"
                for s in f.samples
            ]
            assert up == [1.0], body
