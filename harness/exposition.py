"""Reading an exposition the way a user's PromQL would: series by name and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """{sample name: [(labels, value), ...]} of every sample in the exposition."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def values(text: str, name: str, **match: str) -> list[float]:
    """Values of the series named `name` whose labels include `match`."""
    return [
        v
        for labels, v in parse(text).get(name, [])
        if all(labels.get(k) == want for k, want in match.items())
    ]


def value(text: str, name: str, **match: str) -> float:
    found = values(text, name, **match)
    assert len(found) == 1, f"expected one {name}{match}, found {len(found)}"
    return found[0]


def promtool_lint(text: str) -> str:
    """`promtool check metrics` findings for an exposition; empty when clean."""
    import subprocess

    run = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    findings = (run.stdout + run.stderr).strip()
    return findings if run.returncode != 0 or findings else ""
