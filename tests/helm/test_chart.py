"""The chart lints, renders valid Kubernetes objects, is locked down, and each part turns off."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.helm.conftest import (
    ALERTS_DIR,
    CHART,
    DASHBOARDS_DIR,
    EXAMPLE,
    KUBERNETES_VERSION,
    MONITORING_API,
    OLDEST_KUBERNETES,
    Helm,
    Rendered,
)

CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule"}
SYNC = CHART.parent.parent / "scripts" / "sync-chart-files.py"


@pytest.mark.parametrize("values", [[], [EXAMPLE]], ids=["defaults", "multi-vcenter"])
def test_helm_lint_strict(helm: Helm, values: list[Path]) -> None:
    result = helm.run("lint", "--strict", str(CHART), *Helm.value_args(values))
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def kubernetes_validate(
    path: Path, version: str = KUBERNETES_VERSION
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "kubernetes_validate",
            "--strict",
            "-k",
            version,
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# The oldest Kubernetes the chart declares (Chart.yaml kubeVersion), a current one, the newest
# kubernetes-validate knows.
@pytest.mark.parametrize("version", [OLDEST_KUBERNETES, KUBERNETES_VERSION, "1.37.0"])
@pytest.mark.parametrize("values", [[], [EXAMPLE]], ids=["defaults", "multi-vcenter"])
def test_rendered_objects_validate_against_kubernetes(
    helm: Helm, values: list[Path], version: str, tmp_path: Path
) -> None:
    rendered = helm.template(values)
    path = tmp_path / "rendered.yaml"
    path.write_text(rendered.text)
    result = kubernetes_validate(path, version)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Every built-in object was really checked; only the custom resources lack a schema there
    # (they are checked below).
    for doc in rendered.docs:
        name = f"{doc['kind'].lower()}/{doc['metadata']['name']}"
        if doc["kind"] in CUSTOM_KINDS:
            assert f"Couldn't find schema for kind {doc['kind']}" in output
        else:
            minor = version.rsplit(".", 1)[0]
            assert f"passed for resource {name} against version {minor}" in output, output


def test_validator_catches_a_broken_object(tmp_path: Path) -> None:
    # Guard for the test above: a misspelt field in a Deployment does fail validation.
    path = tmp_path / "broken.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "x"},
                "spec": {"port": [{"port": 80}]},
            }
        )
    )
    assert kubernetes_validate(path).returncode != 0


# The parts of the prometheus-operator CRDs (monitoring.coreos.com/v1) the chart uses, strict:
# kubernetes-validate has no schema for custom resources.
DURATION = {"type": "string", "pattern": r"^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}
STRMAP = {"type": "object", "additionalProperties": {"type": "string"}}
METADATA = {
    "type": "object",
    "required": ["name", "namespace"],
    "properties": {
        "name": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": STRMAP,
        "annotations": STRMAP,
    },
}
RELABEL = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        k: {"type": "string"}
        for k in ("targetLabel", "replacement", "regex", "separator", "action")
    }
    | {
        "sourceLabels": {"type": "array", "items": {"type": "string"}},
        "modulus": {"type": "integer"},
    },
}
SERVICE_MONITOR = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": METADATA,
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "jobLabel": {"type": "string"},
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"any": {"type": "boolean"}, "matchNames": {"type": "array"}},
                },
                "selector": {"type": "object", "properties": {"matchLabels": STRMAP}},
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["port"],
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "params": {
                                "type": "object",
                                "additionalProperties": {
                                    "type": "array",
                                    "items": {"type": "string"},
                                },
                            },
                            "scheme": {"enum": ["http", "https"]},
                            "interval": DURATION,
                            "scrapeTimeout": DURATION,
                            "honorLabels": {"type": "boolean"},
                            "relabelings": {"type": "array", "items": RELABEL},
                            "metricRelabelings": {"type": "array", "items": RELABEL},
                            "tlsConfig": {"type": "object"},
                            "basicAuth": {"type": "object"},
                        },
                    },
                },
            },
        },
    },
}
PROMETHEUS_RULE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": METADATA,
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["groups"],
            "properties": {
                "groups": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "properties": {
                            "name": {"type": "string"},
                            "interval": DURATION,
                            "rules": {"type": "array", "minItems": 1},
                        },
                    },
                }
            },
        },
    },
}


def check_custom_resources(rendered: Rendered, tmp_path: Path) -> None:
    for monitor in rendered.of_kind("ServiceMonitor"):
        jsonschema.validate(monitor, SERVICE_MONITOR)
    for rule in rendered.of_kind("PrometheusRule"):
        jsonschema.validate(rule, PROMETHEUS_RULE)
        # The spec is a Prometheus rule file: Prometheus' own checker must accept it.
        path = tmp_path / "rules.yaml"
        path.write_text(yaml.safe_dump(rule["spec"]))
        result = subprocess.run(
            ["promtool", "check", "rules", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_custom_resources_are_well_formed(helm: Helm, tmp_path: Path) -> None:
    rendered = helm.template([EXAMPLE])
    assert {"ServiceMonitor", "PrometheusRule"} <= set(rendered.kinds())
    check_custom_resources(rendered, tmp_path)
    metrics_mode = helm.template(sets=["serviceMonitor.enabled=true"])
    check_custom_resources(metrics_mode, tmp_path)


def test_defaults_render_the_documented_parts(helm: Helm) -> None:
    kinds = set(helm.template().kinds())
    assert {"Deployment", "Service", "PrometheusRule", "ConfigMap"} <= kinds
    # Off by default: they need the operator's CRDs or a cluster-specific policy.
    assert "ServiceMonitor" not in kinds
    assert "NetworkPolicy" not in kinds


@pytest.mark.parametrize(
    ("switch", "gone"),
    [
        ("deployment.enabled=false", "Deployment"),
        ("service.enabled=false", "Service"),
        ("prometheusRule.enabled=false", "PrometheusRule"),
    ],
)
def test_each_part_turns_off(helm: Helm, switch: str, gone: str) -> None:
    assert gone in helm.template().kinds()
    assert gone not in helm.template(sets=[switch]).kinds()


def test_dashboards_turn_off(helm: Helm) -> None:
    def dashboards(rendered: Rendered) -> list[dict[str, Any]]:
        return [
            cm
            for cm in rendered.of_kind("ConfigMap")
            if cm["metadata"]["labels"].get("grafana_dashboard") == "1"
        ]

    assert dashboards(helm.template())
    assert not dashboards(helm.template(sets=["dashboards.enabled=false"]))


def test_prometheus_rule_only_where_the_cluster_has_its_api(helm: Helm) -> None:
    # Like an explicit serviceMonitor.enabled, the rule needs the prometheus-operator's CRD:
    # on a cluster without it, installing a PrometheusRule would fail the whole release.
    assert "PrometheusRule" in helm.template().kinds()
    assert "PrometheusRule" not in helm.template(api_versions=()).kinds()


def test_only_the_alerts_or_dashboards_can_be_installed(helm: Helm) -> None:
    # The release that ships rules and dashboards for all groups needs no exporter.
    rendered = helm.template(sets=["deployment.enabled=false", "service.enabled=false"])
    assert set(rendered.kinds()) == {"PrometheusRule", "ConfigMap"}


@pytest.mark.parametrize("values", [[], [EXAMPLE]], ids=["defaults", "multi-vcenter"])
def test_the_pod_is_locked_down(helm: Helm, values: list[Path]) -> None:
    deployment = helm.template(values).one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    assert security.get("privileged", False) is False
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/-/healthy"
    assert container["readinessProbe"]["httpGet"]["path"] == "/-/ready"
    # Probes, Service and the listen flag all use the one named port.
    (port,) = container["ports"]
    assert port["name"] == container["livenessProbe"]["httpGet"]["port"] == "http"
    assert f"--web.listen-address=:{port['containerPort']}" in container["args"]


def test_tls_web_config_switches_probes_and_scrapes_to_https(helm: Helm) -> None:
    rendered = helm.template(
        sets=[
            "webConfig.existingSecret=exporter-web",
            "webConfig.tls=true",
            "serviceMonitor.enabled=true",
        ]
    )
    (container,) = rendered.one("Deployment")["spec"]["template"]["spec"]["containers"]
    assert "--web.config.file=/etc/hypervisor-exporter/web/web-config.yml" in container["args"]
    assert container["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"
    assert container["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    (endpoint,) = rendered.one("ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["scheme"] == "https"


def test_probe_mode_scrapes_each_target_on_its_own(helm: Helm) -> None:
    rendered = helm.template([EXAMPLE])
    config = yaml.safe_load(rendered.one("ConfigMap", "-config")["data"]["config.yaml"])
    names = [t["name"] for t in config["targets"]]
    endpoints = rendered.one("ServiceMonitor")["spec"]["endpoints"]
    assert [e["params"]["target"] for e in endpoints] == [[n] for n in names]
    assert {e["path"] for e in endpoints} == {"/probe"}
    # Distinct instance labels, so the per-target `up` series do not collide.
    instances = [
        r["replacement"]
        for e in endpoints
        for r in e["relabelings"]
        if r.get("targetLabel") == "instance"
    ]
    assert instances == names
    # A subset, and a name that is not a target is refused.
    subset = helm.template([EXAMPLE], sets=["serviceMonitor.probeTargets={vc-ams}"])
    assert [e["params"]["target"] for e in subset.one("ServiceMonitor")["spec"]["endpoints"]] == [
        ["vc-ams"]
    ]
    error = helm.template_error([EXAMPLE], sets=["serviceMonitor.probeTargets={vc-nope}"])
    assert '"vc-nope" is not a target in config.targets' in error


def test_metrics_mode_scrapes_metrics(helm: Helm) -> None:
    rendered = helm.template(sets=["serviceMonitor.enabled=true"])
    (endpoint,) = rendered.one("ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    service = rendered.one("Service")
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]


def test_network_policy_admits_scrapes_and_limits_egress(helm: Helm) -> None:
    policy = helm.template([EXAMPLE]).one("NetworkPolicy")["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert ingress["from"]
    ports = [p["port"] for rule in policy["egress"] for p in rule.get("ports", [])]
    assert 53 in ports and 443 in ports


def test_chart_files_are_fresh_copies_of_the_rules_and_boards() -> None:
    # Copies, not symbolic links (helm warns about those on every run), kept equal to the
    # rendered originals by `make render` (scripts/sync-chart-files.py).
    result = subprocess.run(
        [sys.executable, str(SYNC), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    shipped = sorted(p.relative_to(CHART / "files") for p in (CHART / "files").rglob("*.*"))
    assert shipped == [Path("alerts/hypervisor.rules.yaml")] + [
        Path("dashboards") / p.name for p in sorted(DASHBOARDS_DIR.glob("*.json"))
    ]


def test_helm_template_prints_no_warnings(helm: Helm) -> None:
    result = helm.run("template", "hv", str(CHART))
    assert result.stderr == "", result.stderr


def test_packaged_chart_carries_the_rules_and_dashboards(helm: Helm, tmp_path: Path) -> None:
    helm.run("package", str(CHART), "--destination", str(tmp_path))
    (archive,) = tmp_path.glob("hypervisor-exporter-*.tgz")
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
        shipped = [ALERTS_DIR / "hypervisor.rules.yaml", *sorted(DASHBOARDS_DIR.glob("*.json"))]
        for source in shipped:
            name = f"hypervisor-exporter/files/{source.parent.name}/{source.name}"
            assert name in members, f"{name} missing from the package"
            stored = tar.extractfile(members[name])
            assert stored is not None and stored.read() == source.read_bytes()
        assert not any(m.startswith("hypervisor-exporter/examples/") for m in members)
        # Only what the templates read: no promtool tests, no dashboard generator sources.
        assert not [m for m in members if m.endswith(".py") or "/files/alerts/tests/" in m]
    # And it renders on its own, away from the repository (with the CRDs' API present).
    result = helm.run("template", "hv", str(archive), "--api-versions", MONITORING_API)
    assert "kind: PrometheusRule" in result.stdout


def test_release_fits_in_helm_release_secret(helm: Helm, tmp_path: Path) -> None:
    # Helm stores each release (chart files, templates and the rendered manifest) gzipped and
    # base64-encoded in one Secret, which Kubernetes caps at 1 MiB: dashboards are shipped
    # twice in it (as chart files and as ConfigMaps), so growing dashboards can break installs.
    rendered = helm.template([EXAMPLE])
    helm.run("package", str(CHART), "--destination", str(tmp_path))
    (archive,) = tmp_path.glob("hypervisor-exporter-*.tgz")
    files: dict[str, str] = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            data = tar.extractfile(member)
            if data is not None:
                files[member.name] = base64.b64encode(data.read()).decode()
    release = json.dumps({"manifest": rendered.text, "chart": files}).encode()
    stored = len(base64.b64encode(gzip.compress(release)))
    assert stored < 1024 * 1024 // 2, f"release Secret about {stored} bytes, limit 1 MiB"
