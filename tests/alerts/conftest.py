"""Fixtures of the alert tests: the shipped rules, tests and Alertmanager example."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

ALERTS = ROOT / "alerts"
RULES = ALERTS / "hypervisor.rules.yaml"
RULE_TESTS = sorted((ALERTS / "tests").glob("*.yaml"))
ALERTMANAGER_EXAMPLE = ALERTS / "alertmanager.example.yaml"
RUNBOOKS = ROOT / "docs" / "runbooks"
RENDER = ROOT / "scripts" / "render-rules.py"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:  # a missing tool is a failure, not a skip
        raise RuntimeError(f"{name} is not installed: run scripts/install-test-deps.sh")
    return path


@pytest.fixture(scope="session")
def rules() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(RULES.read_text())
    return loaded


@pytest.fixture(scope="session")
def alert_rules(rules: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]
