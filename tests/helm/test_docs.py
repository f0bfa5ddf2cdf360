"""docs/helm.md documents every value of the chart."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT
from tests.helm.conftest import CHART, Helm
from tests.helm.test_config import check_config

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


def test_install_example_of_the_docs_renders_and_passes_check_config(
    helm: Helm, tmp_path: Path
) -> None:
    doc = (ROOT / "docs" / "helm.md").read_text()
    snippet = re.search(r"cat > my-values.yaml <<'EOF'\n(.*?)\nEOF\n", doc, re.S)
    assert snippet, "the install example's values are gone from docs/helm.md"
    values = tmp_path / "my-values.yaml"
    values.write_text(snippet.group(1))
    check_config(helm.template([values]), tmp_path, "hv-passwords")
