"""Fixtures for the Helm chart tests: the real helm binary (scripts/deps.d/60-helm.sh)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

CHART = ROOT / "helm" / "hypervisor-exporter"
EXAMPLE = CHART / "examples" / "multi-vcenter.yaml"
ALERTS_DIR = ROOT / "alerts"
DASHBOARDS_DIR = ROOT / "dashboards"
KUBERNETES_VERSION = "1.31.0"
# The prometheus-operator's API: the chart renders its PrometheusRule only where the cluster
# serves it (`helm template` knows no cluster: --api-versions says it does).
MONITORING_API = "monitoring.coreos.com/v1"
# The oldest Kubernetes the chart declares: Chart.yaml's kubeVersion ">=X.Y.Z-0".
OLDEST_KUBERNETES = (
    yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"].lstrip(">=").split("-")[0]
)


def find_helm() -> str:
    """helm from $HELM, the project's cache, or PATH; a missing helm fails the tests loudly."""
    candidates = [os.environ.get("HELM", ""), str(ROOT / ".cache" / "helm" / "helm")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which("helm")
    if on_path:
        return on_path
    raise RuntimeError("helm not found: run scripts/deps.d/60-helm.sh (or set HELM=/path/to/helm)")


@dataclass
class Rendered:
    """The documents of one `helm template`, with the text as written."""

    text: str
    docs: list[dict[str, Any]]

    def kinds(self) -> list[str]:
        return [doc["kind"] for doc in self.docs]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def one(self, kind: str, name_suffix: str = "") -> dict[str, Any]:
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"].endswith(name_suffix)]
        assert len(found) == 1, f"expected one {kind} *{name_suffix}, got {len(found)}"
        return found[0]


class Helm:
    def __init__(self, binary: str) -> None:
        self.binary = binary

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, *args], capture_output=True, text=True, timeout=60, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}")
        return result

    @staticmethod
    def value_args(values: Iterable[Path] = (), sets: Sequence[str] = ()) -> list[str]:
        args: list[str] = []
        for path in values:
            args += ["-f", str(path)]
        for assignment in sets:
            args += ["--set", assignment]
        return args

    def template(
        self,
        values: Iterable[Path] = (),
        sets: Sequence[str] = (),
        release: str = "hv",
        namespace: str = "monitoring",
        api_versions: Sequence[str] = (MONITORING_API,),
    ) -> Rendered:
        args = ["template", release, str(CHART), "--namespace", namespace]
        for api in api_versions:
            args += ["--api-versions", api]
        result = self.run(*args, *self.value_args(values, sets))
        # libyaml's safe loader: the pure-Python one takes as long as helm itself here.
        docs = [doc for doc in yaml.load_all(result.stdout, Loader=yaml.CSafeLoader) if doc]
        return Rendered(result.stdout, docs)

    def template_error(self, values: Iterable[Path] = (), sets: Sequence[str] = ()) -> str:
        """The error of a `helm template` that must fail."""
        args = ["template", "hv", str(CHART), "--api-versions", MONITORING_API]
        args += self.value_args(values, sets)
        result = self.run(*args, check=False)
        assert result.returncode != 0, f"helm template accepted bad values:\n{result.stdout[:2000]}"
        return result.stderr


@pytest.fixture(scope="session")
def helm() -> Helm:
    return Helm(find_helm())


@pytest.fixture
def write_values(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    counter = iter(range(1000))

    def write(values: dict[str, Any]) -> Path:
        path = tmp_path / f"values-{next(counter)}.yaml"
        path.write_text(yaml.safe_dump(values, sort_keys=False))
        return path

    return write
