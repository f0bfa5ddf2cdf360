"""The docs say what the code does."""

from __future__ import annotations

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


def test_readme_has_the_two_commands_and_no_placeholders() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "    make run" in readme and "    make test" in readme
    assert "SNIPPET" not in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
