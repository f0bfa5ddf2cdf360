"""The docs say what the code does."""

from __future__ import annotations

import re
from pathlib import Path

from exporter.metrics_doc import catalogue, render_doc

ROOT = Path(__file__).resolve().parents[2]


def test_metrics_reference_is_generated_from_the_families() -> None:
    assert (ROOT / "docs" / "metrics.md").read_text() == render_doc(), (
        "docs/metrics.md is stale: run .venv/bin/python -m exporter.metrics_doc > docs/metrics.md"
    )


def test_every_family_has_a_unique_name_and_help() -> None:
    names = [family.name for family, _ in catalogue()]
    assert len(names) == len(set(names))
    assert all(family.help.strip() for family, _ in catalogue())


def test_readme_has_the_three_commands_and_no_placeholders() -> None:
    readme = (ROOT / "README.md").read_text()
    assert all(f"    make {c}" in readme for c in ("run", "demo", "test"))
    assert "SNIPPET" not in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_readme_links_resolve_and_reach_license_changelog_and_chart() -> None:
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    relative = [link for link in links if "://" not in link]
    missing = [link for link in relative if not (ROOT / link).exists()]
    assert not missing, f"README links to missing files: {missing}"
    for required in ("LICENSE", "CHANGELOG.md", "helm/hypervisor-exporter/README.md"):
        assert required in relative, f"README does not link {required}"
    # The install routes it describes are shipped.
    assert "packaging/systemd/hypervisor-exporter.service" in readme
    assert "pipx install --system-site-packages" in readme
