"""values.schema.json refuses wrong values with a message naming the key; the chart refuses
what the schema cannot express (duplicate names, a password key without a Secret)."""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from exporter.collectors import Kind, kinds
from exporter.targets import Secret, field_types
from tests.helm.conftest import CHART, Helm

SCHEMA_ERROR = "values don't meet the specifications of the schema"


def vsphere(**extra: Any) -> dict[str, Any]:
    return {
        "name": "vc1",
        "kind": "vsphere",
        "host": "vc1.example:443",
        "username": "monitor",
        "passwordSecretKey": "vc1",
        **extra,
    }


@pytest.mark.parametrize(
    ("values", "messages"),
    [
        (
            {"config": {"targets": [{"name": "h", "kind": "hyperv"}]}},
            ["config.targets.0.kind", '"vsphere", "libvirt", "ceph", "iscsi", "openstack"'],
        ),
        (
            {"config": {"targets": [vsphere(colour="blue")]}},
            ["config.targets.0", "Additional property colour is not allowed"],
        ),
        # An inline password would land in a ConfigMap: the chart takes Secrets only.
        (
            {"config": {"targets": [vsphere(password="hunter2")]}},
            ["Additional property password is not allowed"],
        ),
        (
            {"config": {"targets": [{"name": "vc1", "kind": "vsphere", "host": "vc1"}]}},
            ["config.targets.0: username is required"],
        ),
        (
            {
                "config": {
                    "targets": [
                        {"name": "kvm", "kind": "libvirt", "uri": "qemu:///system", "host": "kvm01"}
                    ]
                }
            },
            ['config.targets.0 must be one of the following: "name", "kind", "timeout", "uri"'],
        ),
        (
            {"config": {"targets": [vsphere(timeout="ten")]}},
            ["config.targets.0.timeout: Invalid type. Expected: number, given: string"],
        ),
        (
            {"config": {"targets": [vsphere(capacity_interval=-1)]}},
            ["config.targets.0.capacity_interval: Must be greater than or equal to 0"],
        ),
        (
            {"config": {"targets": [vsphere(start_failure_window=0)]}},
            ["config.targets.0.start_failure_window: Must be greater than 0"],
        ),
        (
            {
                "config": {
                    "targets": [
                        {
                            "name": "kvm",
                            "kind": "libvirt",
                            "uri": "qemu:///system",
                            "start_failure_window": 31 * 24 * 3600,
                        }
                    ]
                }
            },
            ["config.targets.0.start_failure_window: Must be less than or equal to 2.592e+06"],
        ),
        ({"config": {"targets": []}}, ["config.targets: Array must have at least 1 items"]),
        ({"image": {"pullPolicy": "Sometimes"}}, ["image.pullPolicy must be one of the following"]),
        ({"serviceMonitor": {"mode": "federate"}}, ["serviceMonitor.mode must be one of"]),
        ({"serviceMonitor": {"interval": 30}}, ["serviceMonitor.interval: Invalid type"]),
        ({"credentials": {"mode": "vault"}}, ["credentials.mode must be one of"]),
        (
            {"servicemonitor": {"enabled": True}},
            ["(root): Additional property servicemonitor is not allowed"],
        ),
        ({"service": {"port": 70000}}, ["service.port: Must be less than or equal to 65535"]),
        (
            {"prometheusRule": {"runbookBaseURL": "wiki/runbooks"}},
            ["prometheusRule.runbookBaseURL: Does not match pattern"],
        ),
    ],
    ids=[
        "kind",
        "unknown-key",
        "inline-password",
        "missing-username",
        "key-of-other-kind",
        "timeout-type",
        "capacity-interval",
        "start-failure-window-zero",
        "start-failure-window-over-30-days",
        "no-targets",
        "pull-policy",
        "monitor-mode",
        "interval-type",
        "credentials-mode",
        "misspelt-top-level",
        "port-range",
        "runbook-base",
    ],
)
def test_schema_refuses_wrong_values(
    helm: Helm,
    write_values: Callable[[dict[str, Any]], Path],
    values: dict[str, Any],
    messages: list[str],
) -> None:
    error = helm.template_error([write_values(values)])
    assert SCHEMA_ERROR in error
    for message in messages:
        assert message in error, error


SCHEMA: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
TARGET: dict[str, Any] = SCHEMA["definitions"]["target"]
JSON_TYPES = {str: "string", bool: "boolean", float: "number"}


def chart_keys(kind: Kind[Any]) -> dict[str, type]:
    """The keys a target of `kind` may have in the chart's values, with the Python type of
    each: the fields of the kind's config class (what the exporter accepts) plus `kind`. A
    `Secret` field F is F_file, F_env or FSecretKey (the chart's Secret key), never F itself:
    an inline password would land in a ConfigMap."""
    hints = field_types(kind.config)
    keys: dict[str, type] = {"kind": str}
    for field in dataclasses.fields(kind.config):
        if field.name in kind.secrets:
            keys |= {f"{field.name}{suffix}": str for suffix in ("_file", "_env", "SecretKey")}
            continue
        options = [o for o in typing.get_args(hints[field.name]) if o is not type(None)]
        keys[field.name] = options[0] if options else hints[field.name]
    return keys


def schema_keys(kind: str) -> set[str]:
    """The keys the schema's `if kind == ...` block allows a target of `kind`."""
    blocks = [b for b in TARGET["allOf"] if b["if"]["properties"]["kind"]["const"] == kind]
    assert len(blocks) == 1, f"values.schema.json has {len(blocks)} blocks for kind {kind}"
    return set(blocks[0]["then"]["propertyNames"]["enum"])


def test_schema_kinds_are_the_exporters() -> None:
    assert set(TARGET["properties"]["kind"]["enum"]) == set(kinds())


@pytest.mark.parametrize("kind", sorted(kinds()))
def test_schema_keys_are_the_exporters(kind: str) -> None:
    """Each kind's keys in the schema are exactly the exporter's, so a key the exporter
    accepts is never refused by the chart (start_failure_window was) and a key the
    exporter would refuse is stopped by `helm install` already."""
    expected = chart_keys(kinds()[kind])
    assert schema_keys(kind) == set(expected)
    for key, python_type in expected.items():
        assert key in TARGET["properties"], f"{key} has no definition in values.schema.json"
        if python_type is not Secret:
            assert TARGET["properties"][key]["type"] == JSON_TYPES[python_type], key


def test_schema_accepts_every_kind(
    helm: Helm, write_values: Callable[[dict[str, Any]], Path]
) -> None:
    values = {
        "credentials": {"existingSecret": "hv-passwords"},
        "config": {
            "targets": [
                vsphere(
                    verify_tls=False, timeout=2.5, capacity_interval=300, start_failure_window=3600
                ),
                {
                    "name": "vc2",
                    "kind": "vsphere",
                    "host": "[2001:db8::1]:443",
                    "username": "u",
                    "password_env": "VC2_PASSWORD",
                    "ca_file": "/etc/ca/ca.crt",
                },
                {
                    "name": "kvm01",
                    "kind": "libvirt",
                    "uri": "qemu+ssh://kvm01/system",
                    "start_failure_window": 86400,
                },
                {
                    "name": "ceph-main",
                    "kind": "ceph",
                    "conf": "/etc/ceph/ceph.conf",
                    "user": "monitor",
                    "keyring": "/etc/ceph/keyring",
                },
                {"name": "iscsi-local", "kind": "iscsi", "sysfs_root": "/host/sys"},
                {
                    "name": "cloud",
                    "kind": "openstack",
                    "auth_url": "https://keystone.example:5000/v3",
                    "username": "monitor",
                    "passwordSecretKey": "openstack",
                    "project_name": "admin",
                    "region_name": "RegionOne",
                },
                {
                    "name": "cloud2",
                    "kind": "openstack",
                    "cloud": "prod",
                    "clouds_file": "/etc/openstack/clouds.yaml",
                },
            ]
        },
    }
    assert helm.template([write_values(values)]).one("Deployment")


def test_duplicate_target_names_are_refused(
    helm: Helm, write_values: Callable[[dict[str, Any]], Path]
) -> None:
    values = {
        "credentials": {"existingSecret": "s"},
        "config": {"targets": [vsphere(), vsphere(host="other")]},
    }
    error = helm.template_error([write_values(values)])
    assert 'config.targets[1]: name "vc1" is a duplicate of config.targets[0]' in error


def test_password_key_without_secret_is_refused(
    helm: Helm, write_values: Callable[[dict[str, Any]], Path]
) -> None:
    error = helm.template_error([write_values({"config": {"targets": [vsphere()]}})])
    assert "config.targets[0] (vc1): passwordSecretKey needs credentials.existingSecret" in error


def test_clashing_password_variables_are_refused(
    helm: Helm, write_values: Callable[[dict[str, Any]], Path]
) -> None:
    values = {
        "credentials": {"existingSecret": "s", "mode": "env"},
        "config": {"targets": [vsphere(name="vc-1"), vsphere(name="vc_1")]},
    }
    error = helm.template_error([write_values(values)])
    assert "HYPERVISOR_EXPORTER_PASSWORD_VC_1 clashes with target vc-1" in error
