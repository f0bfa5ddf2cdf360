"""The table of alerts/thresholds.yaml, read once for the rules renderer and the boards.

Numbers stay the text they are typed as ("0.20" is written into the rules as 0.20), and are
checked to be numbers; `for:` values are checked to be Prometheus durations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import yaml

TABLE = Path(__file__).resolve().parent / "thresholds.yaml"

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")
DURATION = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|y))+$")
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_WORDS = {
    "y": "year",
    "w": "week",
    "d": "day",
    "h": "hour",
    "m": "minute",
    "s": "second",
    "ms": "millisecond",
}


class TableError(ValueError):
    """The table (or an override) is not what the renderers can use; the message says where."""


def duration_text(duration: str) -> str:
    """A Prometheus duration in words: 15m -> "15 minutes", 1h30m -> "1 hour 30 minutes"."""
    if not DURATION.match(duration):
        raise TableError(f"{duration!r} is not a Prometheus duration such as 30s or 5m")
    words = []
    for count, unit in _DURATION_PART.findall(duration):
        word = _UNIT_WORDS[unit]
        words.append(f"{int(count)} {word}{'' if int(count) == 1 else 's'}")
    return " ".join(words)


@dataclass(frozen=True)
class Threshold:
    text: str  # as typed in the table, written into PromQL unchanged
    bad: Literal["above", "below"]
    unit: str  # Grafana unit id of the panels that draw it

    @property
    def value(self) -> float:
        """The number; an int when typed as one (50, not 50.0, in the boards' JSON)."""
        return int(self.text) if self.text.lstrip("-").isdigit() else float(self.text)

    @property
    def human(self) -> str:
        """20% for a ratio (unit percentunit), the number itself otherwise."""
        if self.unit == "percentunit":
            return f"{self.value * 100:g}%"
        return f"{self.value:g}"


@dataclass(frozen=True)
class Alert:
    name: str
    severity: Severity
    for_: str
    threshold: Threshold | None


@dataclass(frozen=True)
class Table:
    runbook_base: str
    autostart_grace_seconds: str
    alerts: dict[str, Alert]
    start_failure_recent_seconds: str | None = None


def _number(text: str, where: str) -> str:
    try:
        float(text)
    except ValueError:
        raise TableError(f"{where}: {text!r} is not a number") from None
    return text


def load(path: Path = TABLE) -> Table:
    """Reads the table; every scalar stays the string it is typed as (BaseLoader)."""
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    except yaml.YAMLError as err:
        raise TableError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("alerts"), dict):
        raise TableError(f"{path}: needs a mapping with `alerts:`")
    alerts = {}
    for name, entry in cast(dict[str, Any], raw["alerts"]).items():
        where = f"{path.name}: alerts.{name}"
        if not isinstance(entry, dict):
            raise TableError(f"{where}: needs severity and for")
        severity = entry.get("severity")
        if severity not in SEVERITIES:
            raise TableError(f"{where}.severity: {severity!r} is not one of {SEVERITIES}")
        duration = str(entry.get("for", ""))
        if not DURATION.match(duration):
            raise TableError(f"{where}.for: {duration!r} is not a Prometheus duration")
        threshold = None
        if "threshold" in entry:
            limit = entry["threshold"]
            if not isinstance(limit, dict) or limit.get("bad") not in ("above", "below"):
                raise TableError(f"{where}.threshold: needs value, bad (above/below) and unit")
            threshold = Threshold(
                _number(str(limit.get("value")), f"{where}.threshold.value"),
                limit["bad"],
                str(limit.get("unit", "short")),
            )
        unknown = set(entry) - {"severity", "for", "threshold"}
        if unknown:
            raise TableError(f"{where}: unknown keys {sorted(unknown)}")
        alerts[name] = Alert(name, severity, duration, threshold)
    return Table(
        runbook_base=str(raw.get("runbook_base", "")),
        autostart_grace_seconds=_number(
            str(raw.get("autostart_grace_seconds")), f"{path.name}: autostart_grace_seconds"
        ),
        alerts=alerts,
        start_failure_recent_seconds=(
            _number(
                str(raw["start_failure_recent_seconds"]),
                f"{path.name}: start_failure_recent_seconds",
            )
            if "start_failure_recent_seconds" in raw
            else None
        ),
    )
