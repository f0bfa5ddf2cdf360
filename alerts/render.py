"""Renders alerts/src/hypervisor.rules.yaml with the numbers of alerts/thresholds.yaml.

The source is the rules file with ${placeholders} (listed at the top of thresholds.yaml);
rendering is plain text substitution, so the source's comments reach the rendered file.
scripts/render-rules.py is the command line; `make render` writes the committed
alerts/hypervisor.rules.yaml with the table as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from alerts import thresholds
from alerts.thresholds import Table, TableError

ALERTS = Path(__file__).resolve().parent
SOURCE = ALERTS / "src" / "hypervisor.rules.yaml"
OUTPUT = ALERTS / "hypervisor.rules.yaml"
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
ALL = "*"  # the key of a `for:` override for every alert

HEADER = """\
# Alert and recording rules of hypervisor-exporter. Load this file into Prometheus
# (rule_files) or as a PrometheusRule (the Helm chart does). Alert names, labels and the
# meaning of each alert are part of the public contract (docs/alerts.md).
#
# Rendered by scripts/render-rules.py from alerts/src/hypervisor.rules.yaml with the numbers
# of alerts/thresholds.yaml: edit those two and run `make render`, not this file.{options}
#
# To point runbook_url at your own copy of docs/runbooks/ or change every for: or the
# autostart grace for your site, render a copy (docs/alerts.md):
#     scripts/render-rules.py --runbook-base https://wiki.example/runbooks/ -o hypervisor.rules.yaml
"""


def for_of(alert: thresholds.Alert, overrides: Mapping[str, str]) -> str:
    """The alert's `for:`: its own override, else the one for all (`*`), else the table's."""
    return overrides.get(alert.name, overrides.get(ALL, alert.for_))


def placeholders(
    table: Table,
    runbook_base: str | None = None,
    for_overrides: Mapping[str, str] | None = None,
    autostart_grace: str | None = None,
) -> dict[str, str]:
    """Every ${name} the source may use and its text; the overrides win over the table.

    `for_overrides` maps alert names (or `*`, every alert) to the `for:` to use instead.
    """
    overrides = dict(for_overrides or {})
    unknown = set(overrides) - set(table.alerts) - {ALL}
    if unknown:
        raise TableError(f"--for: no alert named {', '.join(sorted(unknown))}")
    values = {
        "runbook_base": runbook_base if runbook_base is not None else table.runbook_base,
        "autostart_grace_seconds": (
            autostart_grace if autostart_grace is not None else table.autostart_grace_seconds
        ),
    }
    if table.start_failure_recent_seconds is not None:
        values["start_failure_recent_seconds"] = table.start_failure_recent_seconds
    for alert in table.alerts.values():
        duration = for_of(alert, overrides)
        values[f"{alert.name}.for"] = duration
        values[f"{alert.name}.for_text"] = thresholds.duration_text(duration)
        values[f"{alert.name}.severity"] = alert.severity
        if alert.threshold is not None:
            values[f"{alert.name}.threshold"] = alert.threshold.text
            values[f"{alert.name}.threshold_text"] = alert.threshold.human
    return values


def render(
    source: str,
    table: Table,
    runbook_base: str | None = None,
    for_overrides: Mapping[str, str] | None = None,
    autostart_grace: str | None = None,
    options: str = "",
) -> str:
    """The rendered rules file; TableError names what does not fit together."""
    values = placeholders(table, runbook_base, for_overrides, autostart_grace)
    # The source's own header says how to edit it; the rendered file gets its own.
    lines = source.splitlines(keepends=True)
    skipped = 0
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        lines.pop(0)
        skipped += 1
    body = "".join(lines)
    unknown: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name = match[1]
        if name not in values:
            line = skipped + body.count("\n", 0, match.start()) + 1
            unknown.append(f"line {line}: ${{{name}}}")
            return match[0]
        return values[name]

    body = PLACEHOLDER.sub(substitute, body)
    if unknown:
        raise TableError(
            f"{SOURCE.name}: unknown placeholders (not in {thresholds.TABLE.name}): "
            + ", ".join(unknown)
        )
    text = HEADER.format(options=options) + body
    _check(text, table, for_overrides or {})
    return text


def _check(text: str, table: Table, for_overrides: Mapping[str, str]) -> None:
    try:
        document: dict[str, Any] = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise TableError(f"the rendered rules are not valid YAML: {err}") from None
    if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
        raise TableError("the rendered rules have no `groups:` list")
    rules = [
        rule for group in document["groups"] for rule in group.get("rules") or [] if "alert" in rule
    ]
    problems = []
    for rule in rules:
        name = rule["alert"]
        entry = table.alerts.get(name)
        if entry is None:
            problems.append(f"{name} has no entry in {thresholds.TABLE.name}")
            continue
        if rule.get("for") != for_of(entry, for_overrides):
            problems.append(f"{name}: write `for: ${{{name}.for}}`")
        if rule.get("labels", {}).get("severity") != entry.severity:
            problems.append(f"{name}: write `severity: ${{{name}.severity}}`")
    unused = set(table.alerts) - {rule["alert"] for rule in rules}
    problems += [f"{thresholds.TABLE.name} has {name}, the rules do not" for name in unused]
    if problems:
        raise TableError("; ".join(sorted(problems)))


def render_files(
    source: Path = SOURCE,
    table: Path = thresholds.TABLE,
    runbook_base: str | None = None,
    for_overrides: Mapping[str, str] | None = None,
    autostart_grace: str | None = None,
    options: str = "",
) -> str:
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as err:
        raise TableError(str(err)) from None
    return render(
        text, thresholds.load(table), runbook_base, for_overrides, autostart_grace, options
    )
