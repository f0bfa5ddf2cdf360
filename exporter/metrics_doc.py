"""Writes docs/metrics.md from exporter/families.py, so the reference cannot drift.

.venv/bin/python -m exporter.metrics_doc > docs/metrics.md
"""

from __future__ import annotations

from exporter import families
from exporter.metrics import Family, StateSet

HEADER = """# Metrics

Every family the exporter serves, generated from `exporter/families.py` by
`python -m exporter.metrics_doc` (a test checks that this file is current). Names and labels
are the public API: a rename is announced in CHANGELOG.md. Base units, ratios 0..1.
"""


def catalogue() -> list[tuple[Family, tuple[str, ...]]]:
    """(family, its states if a state set) in declaration order."""
    out: list[tuple[Family, tuple[str, ...]]] = []
    for value in vars(families).values():
        if isinstance(value, StateSet):
            out.append((value.family, value.states))
        elif isinstance(value, Family):
            out.append((value, ()))
    return out


def render_doc() -> str:
    lines = [HEADER, "| family | type | labels | meaning |", "|---|---|---|---|"]
    for family, states in catalogue():
        labels = ", ".join(f"`{label}`" for label in family.labels)
        meaning = family.help.replace("|", "\\|")
        if states:
            meaning += " States: " + ", ".join(f"`{s}`" for s in states) + "."
        lines.append(f"| `{family.name}` | {family.type} | {labels} | {meaning} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_doc(), end="")
