"""Reading the committed boards the way Grafana does: panels, queries, variables, links."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporter import families
from exporter.metrics import Family, StateSet

ROOT = Path(__file__).resolve().parents[2]
BOARD_DIR = ROOT / "dashboards"

# Families the contract names for collectors still being written: the boards may query them
# before exporter/families.py declares them. Remove a line once families.py has it.
CONTRACT_ONLY = {
    "ceph": {
        "hypervisor_ceph_health_status",
        "hypervisor_ceph_health_check",
        "hypervisor_ceph_osds",
        "hypervisor_ceph_osds_up",
        "hypervisor_ceph_osds_in",
        "hypervisor_ceph_osd_up",
    },
    "iscsi": {
        "hypervisor_iscsi_session_up",
        "hypervisor_iscsi_session_info",
        "hypervisor_iscsi_connection_up",
    },
}


def declared_families() -> set[str]:
    names = set()
    for value in vars(families).values():
        if isinstance(value, StateSet):
            value = value.family
        if isinstance(value, Family):
            names.add(value.name)
    return names


KNOWN_FAMILIES = declared_families().union(*CONTRACT_ONLY.values())


def load() -> dict[str, dict[str, Any]]:
    """{file name: board JSON} of every committed board."""
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(BOARD_DIR.glob("*.json"))
    }


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside collapsed rows; rows themselves too."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


@dataclass(frozen=True)
class PanelQuery:
    file: str
    board: str
    panel: str
    panel_id: int
    ref: str
    expr: str
    instant: bool
    merged: bool  # a table whose queries Grafana's merge transformation joins

    def __str__(self) -> str:
        return f"board {self.board!r} ({self.file}), panel {self.panel!r} query {self.ref}"


def panel_queries() -> list[PanelQuery]:
    out = []
    for file, board in load().items():
        for panel in panels(board):
            for target in panel.get("targets", []):
                out.append(
                    PanelQuery(
                        file,
                        board["title"],
                        panel["title"],
                        panel["id"],
                        target["refId"],
                        target["expr"],
                        bool(target.get("instant")),
                        any(t["id"] == "merge" for t in panel.get("transformations", [])),
                    )
                )
    return out


METRIC = re.compile(r"\bhypervisor_[a-z0-9_]+")


def metric_names(expr: str) -> set[str]:
    return set(METRIC.findall(expr))


# Grafana's built-in interval variables, with values that suit a Prometheus scraping every
# second (the tests') the way Grafana's defaults suit a 15 s or 1 min scrape.
BUILTINS = {"__rate_interval": "5s", "__interval": "1s", "__range": "1m"}
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replaces $name and ${name} as Grafana would; unknown variables are an error."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        known = {**BUILTINS, **values}
        if name not in known:
            raise KeyError(f"variable ${name} is not defined on this board")
        return known[name]

    return VARIABLE.sub(replace, expr)


LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$", re.S)


def parse_label_values(query: str) -> tuple[str, str]:
    match = LABEL_VALUES.match(query.strip())
    if not match:
        raise ValueError(f"not a label_values(selector, label) query: {query!r}")
    return match["selector"].strip(), match["label"]
