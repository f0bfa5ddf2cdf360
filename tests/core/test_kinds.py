"""A kind is one module: the fake kind of tests/core/fake_kind.py, once registered, is
parsed (its secrets with the password/password_file/password_env trio), checked by
--check-config, collected by its runner in a lane of its declared size and served by
/probe, like the shipped kinds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from exporter import families as fam
from exporter.blocking import WorkerPool
from exporter.cli import main
from exporter.collectors import KIND_MODULES, Kind, kinds, register
from exporter.config import ConfigError, parse_config
from exporter.http import create_app
from exporter.runner import TargetRunner
from tests.core.fake_kind import KIND, FakeTarget


def config_text(secret: str) -> str:
    return f"targets: [{{name: f1, kind: fake, endpoint: 'fake://one', {secret}}}]\n"


def test_the_shipped_kinds_are_one_module_each() -> None:
    assert set(kinds()) == {"libvirt", "vsphere", "ceph", "iscsi", "openstack"} == set(KIND_MODULES)
    assert kinds()["vsphere"].secrets == ("password",)
    assert kinds()["openstack"].secrets == ("password",)
    assert {name: kind.slots for name, kind in kinds().items()} == {
        "libvirt": 2,
        "vsphere": 2,
        "ceph": 1,
        "iscsi": 1,
        "openstack": 1,
    }


def test_config_parses_the_fake_kind(
    fake_kind: Kind[FakeTarget], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert fake_kind.secrets == ("password", "api_key")
    secret = tmp_path / "secret"
    secret.write_text("s3cret-value\n")
    monkeypatch.setenv("HX_FAKE_KEY", "key-value")
    config = parse_config(
        config_text(f"password_file: {secret}, api_key_env: HX_FAKE_KEY"), "fake.yaml"
    )
    (target,) = config.targets
    assert isinstance(target, FakeTarget)
    assert target.password.reveal() == "s3cret-value"
    assert target.api_key is not None and target.api_key.reveal() == "key-value"
    assert "s3cret-value" not in repr(config) and "key-value" not in repr(config)
    assert {s.reveal() for s in config.secrets()} == {"s3cret-value", "key-value"}

    # The optional secret may be left out; the required one may not.
    assert parse_config(config_text("password: inline"), "fake.yaml").targets
    for body, error in [
        ("api_key: k", "targets[0] (f1): key 'password_file': one of password_file,"),
        ("password: a, password_env: B", "key 'password_env': give only one of password"),
        ("password: a, token: b", "key 'token': unknown key for kind fake (allowed: api_key,"),
        ("password: a, api_key_file: /nonexistent/key", "key 'api_key_file': cannot read"),
    ]:
        with pytest.raises(ConfigError) as refused:
            parse_config(config_text(body), "fake.yaml")
        assert error in str(refused.value)
    with pytest.raises(ConfigError, match="key 'endpoint': must start with fake://"):
        parse_config(
            "targets: [{name: f1, kind: fake, endpoint: 'http://x', password: a}]", "fake.yaml"
        )


def test_check_config_accepts_the_fake_kind(
    fake_kind: Kind[FakeTarget], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "exporter.yaml"
    path.write_text(config_text("password: hunter22"))
    assert main(["--config.file", str(path), "--check-config"]) == 0
    assert capsys.readouterr().out == f"{path}: OK, 1 targets: f1 (fake)\n"
    path.write_text(config_text("pasword: hunter22"))
    assert main(["--config.file", str(path), "--check-config"]) == 1
    assert "key 'pasword': unknown key for kind fake" in capsys.readouterr().err


def test_check_config_imports_no_binding(tmp_path: Path) -> None:
    """Parsing reads every kind's module, none of which imports its blocking library."""
    path = tmp_path / "exporter.yaml"
    path.write_text(
        "targets: [{name: v, kind: vsphere, host: vc, username: u, password: p},"
        f" {{name: c, kind: ceph, conf: {path}}}, {{name: l, kind: libvirt, uri: 'test:///default'}}]"
    )
    code = (
        "import sys\nfrom exporter.cli import main\n"
        f"assert main(['--config.file', {str(path)!r}, '--check-config']) == 0\n"
        "print(sorted(m for m in ('libvirt', 'rados', 'pyVmomi', 'pyVim') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "[]", done.stdout


async def test_runner_and_probe_serve_the_fake_kind(fake_kind: Kind[FakeTarget]) -> None:
    config = parse_config(config_text("password: hunter22"), "fake.yaml")
    pool = WorkerPool()
    runner = TargetRunner.of(config.targets[0], pool)
    assert runner.lane.slots == fake_kind.slots
    result = await runner.scrape()
    assert result.up, result.error
    assert result.samples.value(fam.HOST_MAINTENANCE_MODE, target="f1", host="h") == 8

    app = create_app(config)
    async with TestClient(TestServer(app)) as client:
        answer = await client.get("/probe", params={"target": "f1"})
        text = await answer.text()
        assert answer.status == 200, text
        assert 'hypervisor_host_maintenance_mode{target="f1",host="h"} 8\n' in text
        assert 'hypervisor_target_up{target="f1",kind="fake"} 1\n' in text
        landing = await (await client.get("/")).text()
        assert "<td>fake</td>" in landing
    pool.shutdown()


def test_a_kind_name_is_registered_once(fake_kind: Kind[FakeTarget]) -> None:
    with pytest.raises(ValueError, match="kind fake is already registered"):
        register(KIND)
    libvirt = kinds()["libvirt"]
    with pytest.raises(ValueError, match="kind libvirt is already registered"):
        register(libvirt)
