"""constraints.txt pins everything pyproject.toml asks pip for, and the installs use it."""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.conftest import ROOT


def dist_name(requirement: str) -> str:
    """The PEP 503 normalised distribution name of a requirement line."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def pinned() -> dict[str, str]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    pins = [line.split("==", 1) for line in lines if line and not line.startswith("#")]
    assert all(len(pin) == 2 for pin in pins), "every line of constraints.txt is name==version"
    return {dist_name(name): version for name, version in pins}


def test_every_declared_dependency_is_pinned() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    missing = sorted({dist_name(r) for r in declared} - pinned().keys())
    assert not missing, f"not in constraints.txt: {missing}; run `make constraints`"


@pytest.mark.parametrize("installer", ["scripts/bootstrap.sh", "Containerfile"])
def test_every_install_uses_the_constraints(installer: str) -> None:
    text = (ROOT / installer).read_text()
    installs = [line for line in text.splitlines() if "pip install" in line]
    assert installs
    assert all("-c constraints.txt" in line for line in installs), installs


@pytest.mark.parametrize("doc", ["README.md", "packaging/systemd/hypervisor-exporter.service"])
def test_every_pipx_install_a_user_is_shown_uses_the_constraints(doc: str) -> None:
    # One line a command: a line ending in a backslash goes on on the next.
    text = re.sub(r"\\\n[#\s]*", " ", (ROOT / doc).read_text())
    installs = [line for line in text.splitlines() if "pipx install" in line]
    assert installs
    constrained = re.compile(r"--pip-args='-c \S*constraints\.txt'")
    assert all(constrained.search(line) for line in installs), installs
