"""The shipped rules and Alertmanager example pass Prometheus' own tools, and every alert is
complete: severity, annotations, a runbook that justifies its `for:`, and unit tests that
show it firing and not firing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts import thresholds
from tests.alerts.conftest import (
    ALERTMANAGER_EXAMPLE,
    RENDER,
    RULE_TESTS,
    RULES,
    RUNBOOKS,
    tool,
)

# The alerts of the public contract (docs/alerts.md); renaming one breaks users' routing.
CONTRACT_ALERTS = {
    "HypervisorVMAutostartFailed": "critical",
    "HypervisorVMStartFailed": "warning",
    "HypervisorHostCPUIdleLow": "warning",
    "HypervisorHostMemoryPressure": "warning",
    "HypervisorDiskQueueHigh": "warning",
    "HypervisorPacketLossHigh": "warning",
    "HypervisorDatastoreFreeLow": "warning",
    "HypervisorHostDisconnected": "critical",
    "HypervisorCephHealthError": "critical",
    "HypervisorCephHealthWarning": "warning",
    "HypervisorCephOSDDownHigh": "critical",
    "HypervisorISCSISessionDown": "critical",
    "HypervisorVMGuestToolsNotRunning": "warning",
    "HypervisorTargetDown": "critical",
}
RUNBOOK_SECTIONS = (
    "## What it means",
    "## Why it matters",
    "## Diagnose",
    "## Fix",
    "## Why `for:",
)


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=120)


def test_promtool_check_rules() -> None:
    result = run(tool("promtool"), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests() -> None:
    assert RULE_TESTS, "no promtool tests under alerts/tests/"
    result = run(tool("promtool"), "test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_example_is_valid() -> None:
    result = run(tool("amtool"), "check-config", str(ALERTMANAGER_EXAMPLE))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "alertname=HypervisorVMAutostartFailed"], "pager"),
        (["severity=warning", "alertname=HypervisorHostCPUIdleLow"], "tickets"),
        (["severity=info", "alertname=Anything"], "tickets"),
    ],
)
def test_alertmanager_routes_by_severity(labels: list[str], receiver: str) -> None:
    result = run(
        tool("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER_EXAMPLE}", *labels
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def test_every_contract_alert_exists_with_its_severity(alert_rules: list[dict[str, Any]]) -> None:
    shipped = {rule["alert"]: rule["labels"]["severity"] for rule in alert_rules}
    missing = set(CONTRACT_ALERTS) - set(shipped)
    assert not missing, f"contract alerts missing from {RULES.name}: {sorted(missing)}"
    wrong = {a: s for a, s in CONTRACT_ALERTS.items() if shipped[a] != s}
    assert not wrong, f"severity differs from the contract: {wrong}"


def test_every_alert_is_complete(alert_rules: list[dict[str, Any]]) -> None:
    problems = []
    for rule in alert_rules:
        name = rule["alert"]
        if rule.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
            problems.append(f"{name}: severity must be critical, warning or info")
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not str(annotations.get(key, "")).strip():
                problems.append(f"{name}: annotation {key} missing or empty")
        if not str(annotations.get("runbook_url", "")).endswith(f"/docs/runbooks/{name}.md"):
            problems.append(f"{name}: runbook_url must end with /docs/runbooks/{name}.md")
        runbook = RUNBOOKS / f"{name}.md"
        if not runbook.is_file():
            problems.append(f"{name}: {runbook} does not exist")
            continue
        text = runbook.read_text()
        problems += [
            f"{name}: runbook lacks section {s!r}" for s in RUNBOOK_SECTIONS if s not in text
        ]
        # The runbook explains the `for:` the rule actually has.
        if f"for: {rule.get('for', '0s')}" not in text:
            problems.append(f"{name}: runbook does not mention `for: {rule.get('for')}`")
    assert not problems, "\n".join(problems)


def test_every_alert_has_unit_tests_firing_and_not(alert_rules: list[dict[str, Any]]) -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules}
    assert not names - fires, f"alerts never shown firing in alerts/tests: {names - fires}"
    assert not names - quiet, f"alerts never shown quiet in alerts/tests: {names - quiet}"


def test_alertmanager_example_names_only_shipped_alerts(alert_rules: list[dict[str, Any]]) -> None:
    names = {rule["alert"] for rule in alert_rules}
    text = ALERTMANAGER_EXAMPLE.read_text()
    referenced = set(re.findall(r"Hypervisor[A-Za-z]+", text))
    assert referenced, "the example inhibits nothing by name"
    assert referenced <= names, f"unknown alerts in the example: {referenced - names}"


def test_render_changes_runbook_base_for_and_grace(tmp_path: Path) -> None:
    out = tmp_path / "rendered.yaml"
    result = run(
        sys.executable,
        str(RENDER),
        "--runbook-base",
        "https://wiki.example/rb/",
        "--for",
        "7s",
        "--autostart-grace",
        "42",
        "-o",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    check = run(tool("promtool"), "check", "rules", str(out))
    assert check.returncode == 0, check.stdout + check.stderr
    rules = [r for g in yaml.safe_load(out.read_text())["groups"] for r in g["rules"]]
    alerts = [r for r in rules if "alert" in r]
    assert {r["for"] for r in alerts} == {"7s"}
    assert all(
        r["annotations"]["runbook_url"] == f"https://wiki.example/rb/{r['alert']}.md"
        for r in alerts
    )
    grace = next(r for r in rules if r.get("record") == "hypervisor:autostart_grace_base_seconds")
    assert grace["expr"] == "vector(42)"


def test_committed_rules_are_a_fresh_render() -> None:
    # alerts/hypervisor.rules.yaml is rendered from alerts/src/ and alerts/thresholds.yaml.
    result = run(sys.executable, str(RENDER), "--check")
    assert result.returncode == 0, result.stderr


def test_every_alert_takes_its_numbers_from_the_table(alert_rules: list[dict[str, Any]]) -> None:
    table = thresholds.load()
    assert {rule["alert"] for rule in alert_rules} == set(table.alerts)
    for rule in alert_rules:
        entry = table.alerts[rule["alert"]]
        assert (rule["for"], rule["labels"]["severity"]) == (entry.for_, entry.severity)
        if entry.threshold is not None:
            assert entry.threshold.text in rule["expr"], rule["alert"]
            # The description says the same number and duration the expression uses.
            description = " ".join(rule["annotations"]["description"].split())
            assert entry.threshold.human in description, rule["alert"]
        assert thresholds.duration_text(entry.for_) in rule["annotations"]["description"]


def test_descriptions_quote_the_for_in_force(tmp_path: Path) -> None:
    out = tmp_path / "fast.yaml"
    assert run(sys.executable, str(RENDER), "--for", "10s", "-o", str(out)).returncode == 0
    text = out.read_text()
    assert "# Rendered with --for 10s." in text
    for rule in (r for g in yaml.safe_load(text)["groups"] for r in g["rules"] if "alert" in r):
        description = " ".join(rule["annotations"]["description"].split())
        assert "minute" not in description, rule["alert"]
        assert "10 seconds" in description, rule["alert"]


def test_one_alerts_for_can_be_set_alone(tmp_path: Path, alert_rules: list[dict[str, Any]]) -> None:
    # The demo shortens only HypervisorTargetDown, so it fires and resolves in two minutes.
    out = tmp_path / "demo.yaml"
    args = ["--for", "HypervisorTargetDown=30s", "-o", str(out)]
    assert run(sys.executable, str(RENDER), *args).returncode == 0
    rendered = {
        r["alert"]: r
        for g in yaml.safe_load(out.read_text())["groups"]
        for r in g["rules"]
        if "alert" in r
    }
    for rule in alert_rules:
        expected = "30s" if rule["alert"] == "HypervisorTargetDown" else rule["for"]
        assert rendered[rule["alert"]]["for"] == expected
    assert (
        "has failed for 30 seconds"
        in rendered["HypervisorTargetDown"]["annotations"]["description"]
    )
    unknown = run(sys.executable, str(RENDER), "--for", "HypervisorNope=1m")
    assert unknown.returncode == 1 and "no alert named HypervisorNope" in unknown.stderr


@pytest.mark.parametrize(
    ("source", "table", "message"),
    [
        ("expr: up < ${nope}\n", "", "(not in thresholds.yaml): line 5: ${nope}"),
        (
            "- alert: HypervisorNew\n  for: 1m\n  labels: {severity: warning}\n",
            "",
            "HypervisorNew has no entry in thresholds.yaml",
        ),
        (
            "- alert: HypervisorNew\n  for: 1m\n  labels: {severity: warning}\n",
            "  HypervisorNew: {severity: warning, for: 2m}\n",
            "HypervisorNew: write `for: ${HypervisorNew.for}`",
        ),
        ("", "  HypervisorNew: {severity: loud, for: 2m}\n", "is not one of"),
        ("", "  HypervisorNew: {severity: info, for: 2m}\n", "has HypervisorNew, the rules do"),
    ],
)
def test_render_refuses_rules_and_table_that_disagree(
    tmp_path: Path, source: str, table: str, message: str
) -> None:
    rules, numbers = tmp_path / "rules.yaml", tmp_path / "thresholds.yaml"
    rules.write_text(
        "# header\ngroups:\n- name: g\n  rules:\n"
        + "".join("  " + line + "\n" for line in source.splitlines())
    )
    numbers.write_text("runbook_base: https://x/\nautostart_grace_seconds: 1\nalerts:\n" + table)
    if not table:
        numbers.write_text(numbers.read_text() + "  {}\n")
    result = run(sys.executable, str(RENDER), "--rules", str(rules), "--thresholds", str(numbers))
    assert result.returncode == 1, result.stdout
    assert message in result.stderr


def test_render_with_no_changes_keeps_the_unit_tests_green(tmp_path: Path) -> None:
    # The rendered copy is what the e2e test and the demo load: it must mean the same thing.
    (tmp_path / "tests").mkdir()
    out = tmp_path / "hypervisor.rules.yaml"
    assert run(sys.executable, str(RENDER), "-o", str(out)).returncode == 0
    for path in RULE_TESTS:
        (tmp_path / "tests" / path.name).write_text(path.read_text())
    result = run(
        tool("promtool"), "test", "rules", *[p.name for p in RULE_TESTS], cwd=tmp_path / "tests"
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--for", "soon"], "--for: 'soon' is not a Prometheus duration"),
        (["--autostart-grace", "-1"], "--autostart-grace: -1.0 must be 0 or more seconds"),
        (["--rules", "/nonexistent/rules.yaml"], "/nonexistent/rules.yaml"),
    ],
)
def test_render_refuses_bad_input_clearly(args: list[str], message: str) -> None:
    result = run(sys.executable, str(RENDER), *args)
    assert result.returncode == 1
    assert message in result.stderr
