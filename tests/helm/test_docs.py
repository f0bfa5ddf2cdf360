"""docs/helm.md documents every value of the chart."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from tests.conftest import ROOT
from tests.helm.conftest import CHART

# Passed to Kubernetes whole: documented as one row each.
WHOLE = {"podSecurityContext", "securityContext", "resources", "livenessProbe", "readinessProbe"}


def leaf_keys(values: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and path not in WHOLE:
            yield from leaf_keys(value, f"{path}.")
        else:
            yield path


def test_values_table_lists_every_value() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    doc = (ROOT / "docs" / "helm.md").read_text()
    table = doc[doc.index("## Values") :]
    missing = [key for key in leaf_keys(values) if f"`{key}`" not in table]
    assert not missing, f"values not in the table of docs/helm.md: {missing}"
