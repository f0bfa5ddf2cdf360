"""The openstack kind's keys: what OpenStack users write, refused by name when wrong."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from exporter.blocking import Lane
from exporter.collectors.openstack import OpenStackCollector, OpenStackTarget
from exporter.config import ConfigError, parse_config
from exporter.targets import Secret

AUTH = (
    "targets: [{name: os, kind: openstack, auth_url: 'https://keystone.example:5000/v3',"
    " username: monitor, project_name: admin"
)


def test_password_auth(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    config = parse_config(
        AUTH + f", password_file: {secret}, region_name: RegionTwo, timeout: 20}}]", "t.yaml"
    )
    (target,) = config.targets
    assert isinstance(target, OpenStackTarget)
    assert target.password is not None and target.password.reveal() == "s3cret"
    assert "s3cret" not in repr(target)
    assert (target.region_name, target.timeout, target.verify_tls) == ("RegionTwo", 20, True)
    assert (target.user_domain_name, target.project_domain_name) == ("Default", "Default")


def test_clouds_yaml_entry(tmp_path: Path) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds: {prod: {auth: {auth_url: 'https://k:5000/v3'}}}\n")
    config = parse_config(
        f"targets: [{{name: os, kind: openstack, cloud: prod, clouds_file: {clouds}}}]", "t"
    )
    (target,) = config.targets
    assert isinstance(target, OpenStackTarget)
    assert (target.cloud, target.clouds_file) == ("prod", str(clouds))


BAD = [
    (AUTH + ", password: p, projct_name: x}]", "key 'projct_name': unknown key for kind openstack"),
    (
        "targets: [{name: os, kind: openstack, username: m, password: p, project_name: a}]",
        "key 'auth_url': required unless cloud names a clouds.yaml entry",
    ),
    (AUTH + "}]", "key 'password"),
    (
        "targets: [{name: os, kind: openstack, cloud: prod, auth_url: 'https://k/v3'}]",
        "key 'auth_url': give either cloud",
    ),
    (
        "targets: [{name: os, kind: openstack, cloud: prod, clouds_file: /nonexistent.yaml}]",
        "key 'clouds_file': file /nonexistent.yaml does not exist",
    ),
    (
        AUTH.replace("'https://keystone.example:5000/v3'", "keystone") + ", password: p}]",
        "key 'auth_url': must be Keystone's http(s) URL",
    ),
    (AUTH + ", password: p, verify_tls: maybe}]", "key 'verify_tls': must be true or false"),
    (AUTH + ", password: p, ca_file: /nonexistent/ca.pem}]", "key 'ca_file': file /nonexistent"),
    (
        AUTH + ", password_env: HX_TEST_UNSET_VARIABLE}]",
        "key 'password_env': environment variable HX_TEST_UNSET_VARIABLE is not set",
    ),
]


@pytest.mark.parametrize(("body", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_openstack_config_is_refused_naming_the_key(body: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(body, "t.yaml")
    assert message in str(caught.value)
    assert "targets[0] (os)" in str(caught.value)


def test_password_never_in_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(AUTH + ", password: hunter2-secret, verify_tls: maybe}]", "t.yaml")
    assert "hunter2-secret" not in str(caught.value)


def test_tls_and_region_reach_the_session_a_clouds_entry_keeps_its_own(tmp_path: Path) -> None:
    """What openstacksdk will use, without a request: the CA bundle or no verification as
    the target says; a clouds.yaml entry's own settings where the target says nothing."""
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    direct = OpenStackTarget(
        name="os",
        auth_url="https://k:5000/v3",
        username="u",
        password=Secret("password", "p"),
        project_name="a",
        ca_file=str(ca),
        region_name="R1",
        timeout=7,
    )
    conn = OpenStackCollector(direct, Lane("os", 1))._connect()
    assert conn.config.get_requests_verify_args() == (str(ca), None)
    assert (conn.config.region_name, conn.config.config["api_timeout"]) == ("R1", 7)
    unverified = dataclasses.replace(direct, ca_file=None, verify_tls=False)
    conn = OpenStackCollector(unverified, Lane("os", 1))._connect()
    assert conn.config.get_requests_verify_args() == (False, None)

    clouds = tmp_path / "clouds.yaml"
    entry = {"auth": {"auth_url": "https://k/v3", "username": "u", "password": "p"}}
    clouds.write_text(
        yaml.safe_dump({"clouds": {"lab": {**entry, "verify": False, "region_name": "R9"}}})
    )
    lab = OpenStackTarget(name="os", cloud="lab", clouds_file=str(clouds))
    conn = OpenStackCollector(lab, Lane("os", 1))._connect()
    assert conn.config.get_requests_verify_args() == (False, None)
    assert conn.config.region_name == "R9"
