"""Bad configs are refused at start with the file, the target and the key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.collectors.vsphere.target import VsphereTarget
from exporter.config import ConfigError, load_config, parse_config
from harness.exporter import run_exporter

VSPHERE = "targets: [{name: vc, kind: vsphere, host: 'vc.example:443', username: mon"

BAD = [
    # (config body, text the error must contain)
    ("targets: []", "key 'targets': must be a non-empty list"),
    ("target: []", "unknown top-level key 'target'"),
    ("targets: [{kind: libvirt, uri: 'test:///default'}]", "targets[0]: key 'name': required"),
    ("targets: [{name: a, kind: xen}]", "targets[0] (a): key 'kind': must be one of"),
    ("targets: [{name: a, kind: libvirt}]", "targets[0] (a): key 'uri': required for kind libvirt"),
    ("targets: [{name: a, kind: libvirt, uri: 'nonsense'}]", "key 'uri': must be a libvirt URI"),
    (
        "targets: [{name: a, kind: libvirt, uri: 'test:///default', urll: x}]",
        "targets[0] (a): key 'urll': unknown key for kind libvirt",
    ),
    (
        "targets: [{name: a, kind: libvirt, uri: 'test:///default', timeout: -1}]",
        "targets[0] (a): key 'timeout': must be a number of seconds",
    ),
    (
        "targets: [{name: a, kind: libvirt, uri: 'test:///default', timeout: soon}]",
        "key 'timeout': must be a number, got 'soon'",
    ),
    (
        "targets: [{name: a, kind: libvirt, uri: 'test:///default'},"
        " {name: a, kind: libvirt, uri: 'test:///default'}]",
        "targets[1] (a): key 'name': duplicate of targets[0]",
    ),
    (VSPHERE + "}]", "targets[0] (vc): key 'password_file': one of password_file"),
    (
        VSPHERE + ", password_env: HX_TEST_UNSET_VARIABLE}]",
        "key 'password_env': environment variable HX_TEST_UNSET_VARIABLE is not set",
    ),
    (
        VSPHERE + ", password_file: /nonexistent/secret}]",
        "key 'password_file': cannot read /nonexistent/secret",
    ),
    (VSPHERE + ", password: a, password_file: /etc/hostname}]", "give only one of"),
    (VSPHERE + ", password: a, verify_tls: maybe}]", "key 'verify_tls': must be true or false"),
    (
        VSPHERE + ", password: a, capacity_interval: -1}]",
        "key 'capacity_interval': must be a number of seconds, 0 or more, got -1",
    ),
    (VSPHERE + ", password: a, capacity_interval: .inf}]", "key 'capacity_interval'"),
    (
        VSPHERE + ", password: a, ca_file: /nonexistent/ca.pem}]",
        "key 'ca_file': file /nonexistent/ca.pem does not exist",
    ),
    (
        "targets: [{name: vc, kind: vsphere, host: 'vc:70000', username: m, password: p}]",
        "key 'host': must be host or host:port",
    ),
    (
        "targets: [{name: c, kind: ceph, conf: /nonexistent/ceph.conf}]",
        "targets[0] (c): key 'conf': file /nonexistent/ceph.conf does not exist",
    ),
    (
        "targets: [{name: c, kind: ceph, conf: /etc/hostname, user: 'a b'}]",
        "key 'user': must be a Ceph client name",
    ),
    (
        "targets: [{name: i, kind: iscsi, sysfs_root: /nonexistent}]",
        "targets[0] (i): key 'sysfs_root': /nonexistent is not a directory",
    ),
    ("targets: [{name: i, kind: iscsi, sysfs_root: [a]}]", "key 'sysfs_root': must be a string"),
    ("targets: [ {name: a", "not valid YAML at line"),
]


@pytest.mark.parametrize(("body", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_config_is_refused_naming_the_key(body: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(body, "exporter.yaml")
    assert message in str(refused.value)
    assert str(refused.value).startswith("exporter.yaml")


@pytest.mark.parametrize(("body", "message"), BAD[:4], ids=[m for _, m in BAD[:4]])
def test_check_config_and_start_exit_1_with_the_message(
    body: str, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "exporter.yaml"
    path.write_text(body)
    for extra in (["--check-config"], ["--web.listen-address=127.0.0.1:0"]):
        run = run_exporter(f"--config.file={path}", *extra)
        assert run.returncode == 1
        assert message in run.stderr and str(path) in run.stderr


def test_check_config_accepts_a_good_config_and_connects_to_nothing(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret-value\n")
    path = tmp_path / "exporter.yaml"
    path.write_text(
        f"""targets:
  - {{name: vc, kind: vsphere, host: 'unreachable.invalid:443', username: mon,
      password_file: {secret}, capacity_interval: 300}}
  - {{name: kvm, kind: libvirt, uri: 'qemu+ssh://unreachable.invalid/system'}}
"""
    )
    run = run_exporter("--check-config", f"--config.file={path}")
    assert run.returncode == 0, run.stderr
    assert "OK, 2 targets" in run.stdout
    assert "s3cret" not in run.stdout + run.stderr


def test_secrets_never_show_in_repr_and_files_are_reread(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("first-password\n")
    config = parse_config(
        f"targets: [{{name: vc, kind: vsphere, host: vc, username: u, password_file: {secret}}}]",
        "x.yaml",
    )
    target = config.targets[0]
    assert isinstance(target, VsphereTarget) and target.password is not None
    assert "first-password" not in repr(config)
    assert target.password.reveal() == "first-password"
    secret.write_text("rotated-password")
    assert target.password.reveal() == "rotated-password"
    assert target.address == ("vc", 443)


def test_embedded_default_is_the_libvirt_test_driver() -> None:
    config = load_config(None)
    assert [(t.name, t.kind) for t in config.targets] == [("demo", "libvirt")]
