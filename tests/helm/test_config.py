"""The exporter config the chart renders passes the exporter's own `--check-config`, with the
files and variables laid out as the rendered Deployment provides them to the container."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from tests.helm.conftest import EXAMPLE, Helm, Rendered

PATH_KEYS = ("password_file", "ca_file", "conf", "keyring")


class PodFilesystem:
    """The container's view of its volumes, laid out under a temporary directory."""

    def __init__(self, rendered: Rendered, root: Path) -> None:
        self.rendered = rendered
        self.root = root
        pod = rendered.one("Deployment")["spec"]["template"]["spec"]
        (self.container,) = pod["containers"]
        self.volumes = {v["name"]: v for v in pod["volumes"]}
        self.mounts = {m["mountPath"].rstrip("/"): m for m in self.container["volumeMounts"]}
        for mount_path, mount in self.mounts.items():
            assert mount["name"] in self.volumes, f"mount {mount_path} has no volume"
            local = self.local(mount_path)
            local.mkdir(parents=True)
            volume = self.volumes[mount["name"]]
            if "configMap" in volume:
                name = volume["configMap"]["name"]
                for configmap in rendered.of_kind("ConfigMap"):
                    if configmap["metadata"]["name"] == name:  # rendered by the chart
                        for key, text in configmap["data"].items():
                            (local / key).write_text(text)

    def local(self, mount_path: str) -> Path:
        return self.root / mount_path.strip("/").replace("/", "_")

    def resolve(self, path: str, what: str, create: bool) -> Path:
        """Where `path` of the container lives here; fails when no volume provides it."""
        pure = PurePosixPath(path)
        for mount_path in sorted(self.mounts, key=len, reverse=True):
            if pure.is_relative_to(mount_path):
                volume = self.volumes[self.mounts[mount_path]["name"]]
                local = self.local(mount_path) / pure.relative_to(mount_path)
                if create and not local.exists():
                    # A key of a Secret or ConfigMap the user creates: any key can be there.
                    assert "secret" in volume or "configMap" in volume, (
                        f"{what} {path} is on volume {volume['name']}, which cannot hold it"
                    )
                    local.parent.mkdir(parents=True, exist_ok=True)
                    local.write_text("not-the-real-secret\n")
                return local
        raise AssertionError(f"{what} {path}: no volume of the Deployment provides it")

    def env(self, existing_secret: str) -> dict[str, str]:
        env: dict[str, str] = {}
        for var in self.container.get("env", []):
            if "value" in var:
                env[var["name"]] = var["value"]
            else:
                ref = var["valueFrom"]["secretKeyRef"]
                assert ref["name"] == existing_secret, f"{var['name']} from a foreign Secret"
                env[var["name"]] = f"value-of-{ref['key']}"
        return env


def check_config(rendered: Rendered, tmp_path: Path, existing_secret: str = "") -> str:
    pod = PodFilesystem(rendered, tmp_path / "pod")
    args = pod.container["args"]
    (flag,) = [a for a in args if a.startswith("--config.file=")]
    config_path = pod.resolve(flag.split("=", 1)[1], "--config.file", create=False)
    config = yaml.safe_load(config_path.read_text())
    env = pod.env(existing_secret)
    for target in config["targets"]:
        for key in PATH_KEYS:
            if key in target:
                where = f"target {target['name']} {key}"
                target[key] = str(pod.resolve(target[key], where, create=True))
        if "password_env" in target:
            assert target["password_env"] in env, (
                f"target {target['name']}: the Deployment does not set {target['password_env']}"
            )
        if "sysfs_root" in target and any(
            PurePosixPath(target["sysfs_root"]).is_relative_to(m) for m in pod.mounts
        ):
            target["sysfs_root"] = str(pod.resolve(target["sysfs_root"], "sysfs_root", False))
    local_config = tmp_path / "config.yaml"
    local_config.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "--check-config", f"--config.file={local_config}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"OK, {len(config['targets'])} targets" in result.stdout
    return result.stdout


def test_default_config_passes_check_config(helm: Helm, tmp_path: Path) -> None:
    assert "demo (libvirt)" in check_config(helm.template(), tmp_path)


@pytest.mark.parametrize("mode", ["file", "env"])
def test_example_config_passes_check_config(helm: Helm, tmp_path: Path, mode: str) -> None:
    rendered = helm.template([EXAMPLE], sets=[f"credentials.mode={mode}"])
    config = yaml.safe_load(rendered.one("ConfigMap", "-config")["data"]["config.yaml"])
    key = {"file": "password_file", "env": "password_env"}[mode]
    assert all(key in target for target in config["targets"])
    secret = yaml.safe_load(EXAMPLE.read_text())["credentials"]["existingSecret"]
    output = check_config(rendered, tmp_path, secret)
    assert "vc-fra (vsphere), vc-ams (vsphere), vc-lon (vsphere)" in output


def test_every_kind_passes_check_config(
    helm: Helm, tmp_path: Path, write_values: Callable[[dict[str, Any]], Path]
) -> None:
    values = {
        "credentials": {"existingSecret": "hv-passwords"},
        "config": {
            "targets": [
                {
                    "name": "vc1",
                    "kind": "vsphere",
                    "host": "vc1.example",
                    "username": "u",
                    "passwordSecretKey": "vc1",
                    "verify_tls": False,
                    "start_failure_window": 3600,
                    "capacity_interval": 300,
                },
                {
                    "name": "vc2",
                    "kind": "vsphere",
                    "host": "vc2.example:8443",
                    "username": "u",
                    "password_env": "VC2_PASSWORD",
                },
                {
                    "name": "kvm01",
                    "kind": "libvirt",
                    "uri": "qemu+ssh://kvm01/system",
                    "start_failure_window": 7 * 24 * 3600,
                },
                {
                    "name": "ceph-main",
                    "kind": "ceph",
                    "conf": "/etc/ceph/ceph.conf",
                    "keyring": "/etc/ceph/ceph.client.monitor.keyring",
                    "user": "monitor",
                },
                {"name": "iscsi-node", "kind": "iscsi", "sysfs_root": "/host/sys"},
            ]
        },
        "extraEnv": [
            {
                "name": "VC2_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "hv-passwords", "key": "vc2"}},
            }
        ],
        "extraVolumes": [
            {"name": "ceph", "secret": {"secretName": "ceph-client"}},
            {"name": "host-sys", "hostPath": {"path": "/sys", "type": "Directory"}},
        ],
        "extraVolumeMounts": [
            {"name": "ceph", "mountPath": "/etc/ceph", "readOnly": True},
            {"name": "host-sys", "mountPath": "/host/sys", "readOnly": True},
        ],
    }
    output = check_config(helm.template([write_values(values)]), tmp_path, "hv-passwords")
    assert "OK, 5 targets" in output


def test_check_config_notices_a_password_file_no_volume_provides(
    helm: Helm, tmp_path: Path
) -> None:
    # Guard for the harness above: an unmounted password file is caught, not created.
    rendered = helm.template([EXAMPLE])
    pod = rendered.one("Deployment")["spec"]["template"]["spec"]
    pod["containers"][0]["volumeMounts"] = [
        m for m in pod["containers"][0]["volumeMounts"] if m["name"] != "credentials"
    ]
    with pytest.raises(AssertionError, match="no volume of the Deployment provides it"):
        check_config(rendered, tmp_path)
