"""The PrometheusRule and dashboard ConfigMaps hold exactly what alerts/ and dashboards/ hold.

The expectations are read from the repository's files at test time, so the tests keep
holding as rules and dashboards are added.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.helm.conftest import ALERTS_DIR, DASHBOARDS_DIR, Helm


def rule_groups_from_files() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for path in sorted(ALERTS_DIR.glob("*.y*ml")):
        document = yaml.safe_load(path.read_text())
        # Rule files have groups; the rest (an Alertmanager example, promtool tests) does not.
        if isinstance(document, dict) and "groups" in document:
            groups.extend(document["groups"])
    return groups


def alerts_of(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    alerts: dict[str, dict[str, Any]] = {}
    for group in groups:
        for rule in group["rules"]:
            if "alert" in rule:
                # The same alert name may appear twice (e.g. host and VM variants).
                alerts.setdefault(rule["alert"], {})[rule["expr"]] = rule
    return alerts


def test_alerts_folder_has_rules() -> None:
    assert alerts_of(rule_groups_from_files()), f"no alert rules in {ALERTS_DIR}"


def test_prometheus_rule_holds_exactly_the_alerts_of_the_alerts_folder(helm: Helm) -> None:
    rule = helm.template().one("PrometheusRule")
    # Whole groups, rules in order, every field (expr, for, labels, annotations) unchanged.
    assert rule["spec"]["groups"] == rule_groups_from_files()


def test_rule_labels_can_be_added_and_alerts_left_out(helm: Helm) -> None:
    expected = alerts_of(rule_groups_from_files())
    dropped = sorted(expected)[0]
    rendered = helm.template(
        sets=[
            "prometheusRule.additionalRuleLabels.team=virtualization",
            f"prometheusRule.disabledAlerts={{{dropped}}}",
            "prometheusRule.labels.release=kube-prometheus-stack",
        ]
    ).one("PrometheusRule")
    assert rendered["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    got = alerts_of(rendered["spec"]["groups"])
    assert set(got) == set(expected) - {dropped}
    for name, by_expr in got.items():
        for expr, rule in by_expr.items():
            original = expected[name][expr]
            # The rule's own labels (severity) win over the added ones.
            assert rule["labels"] == {"team": "virtualization", **original.get("labels", {})}
            assert rule["annotations"] == original["annotations"]


def dashboard_files() -> dict[str, Any]:
    files = {path.name: json.loads(path.read_text()) for path in DASHBOARDS_DIR.glob("*.json")}
    assert files, f"no dashboards in {DASHBOARDS_DIR}"
    return files


def test_configmaps_hold_every_dashboard_for_the_grafana_sidecar(helm: Helm) -> None:
    expected = dashboard_files()
    found: dict[str, Any] = {}
    for configmap in helm.template(namespace="monitoring").of_kind("ConfigMap"):
        if configmap["metadata"]["labels"].get("grafana_dashboard") != "1":
            continue
        assert configmap["metadata"]["annotations"]["grafana_folder"] == "Hypervisors"
        for name, text in configmap["data"].items():
            assert name not in found, f"dashboard {name} shipped twice"
            found[name] = json.loads(text)
    assert found == expected


@pytest.mark.parametrize("namespace", ["", "grafana"])
def test_dashboard_label_folder_and_namespace_follow_the_sidecar_settings(
    helm: Helm, namespace: str
) -> None:
    rendered = helm.template(
        sets=[
            "dashboards.label=grafana_dashboard_hv",
            "dashboards.labelValue=yes",
            "dashboards.folder=",
            f"dashboards.namespace={namespace}",
        ],
        namespace="monitoring",
    )
    dashboards = [
        cm
        for cm in rendered.of_kind("ConfigMap")
        if cm["metadata"]["labels"].get("grafana_dashboard_hv") == "yes"
    ]
    assert len(dashboards) == len(dashboard_files())
    for configmap in dashboards:
        assert "grafana_dashboard" not in configmap["metadata"]["labels"]
        assert "grafana_folder" not in configmap["metadata"].get("annotations", {})
        assert configmap["metadata"]["namespace"] == (namespace or "monitoring")


def test_dashboards_load_through_the_sidecar() -> None:
    # The sidecar hands the JSON to Grafana's file provisioning as is: import-time inputs
    # (`__inputs`, ${DS_...}) are never resolved there, and dashboards sharing a uid
    # overwrite each other.
    uids: dict[str, str] = {}
    for name, dashboard in dashboard_files().items():
        text = (DASHBOARDS_DIR / name).read_text()
        assert "__inputs" not in dashboard, f"{name}: export for sharing, not provisioning"
        assert "${DS_" not in text, f"{name}: uses an import-time datasource input"
        uid = dashboard.get("uid")
        assert uid, f"{name}: no uid, so Grafana gives it a new one on every load"
        assert uid not in uids, f"{name} and {uids.get(uid)} share the uid {uid}"
        uids[uid] = name


def test_disabling_every_alert_keeps_only_recording_rules(helm: Helm) -> None:
    groups = rule_groups_from_files()
    names = ",".join(sorted(alerts_of(groups)))
    rendered = helm.template(sets=[f"prometheusRule.disabledAlerts={{{names}}}"])
    recording = [r for g in groups for r in g["rules"] if "record" in r]
    rules = rendered.of_kind("PrometheusRule")
    if not recording:
        assert not rules  # nothing left to ship: no empty PrometheusRule
    else:
        (rule,) = rules
        assert [r for g in rule["spec"]["groups"] for r in g["rules"]] == recording


def test_runbook_links_point_at_your_own_copy(helm: Helm) -> None:
    base = "https://wiki.example.com/ops/runbooks/"
    rendered = helm.template(sets=[f"prometheusRule.runbookBaseURL={base}"])
    rule = rendered.one("PrometheusRule")
    expected = alerts_of(rule_groups_from_files())
    for name, by_expr in alerts_of(rule["spec"]["groups"]).items():
        for expr, got in by_expr.items():
            original = expected[name][expr]["annotations"]
            if "runbook_url" in original:
                assert got["annotations"]["runbook_url"] == f"{base}{name}.md"
                # Only the link changes.
                assert {**got["annotations"], "runbook_url": None} == {
                    **original,
                    "runbook_url": None,
                }
