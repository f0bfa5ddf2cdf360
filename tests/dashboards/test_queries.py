"""Every panel and variable query of every board, run against the real Prometheus of the lab.

A query must answer with status success; a query on families the lab gives must return
data, unless it lists only problems the lab does not have (EXPECTED_EMPTY). Test ids name the
board file, panel and query, so a failure says which panel to fix.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

import exporter.collectors
from tests.dashboards import boards
from tests.dashboards.conftest import Lab

# (board file, panel title, refId) of queries that list problems: empty in a healthy lab.
EXPECTED_EMPTY = {
    # The test driver cannot enable autostart: test_autostart_table proves this query.
    ("fleet-overview.json", "VMs that failed to autostart", "A"),
    ("storage.json", "Active health checks", "A"),
    ("storage.json", "OSDs down now", "A"),
}

QUERIES = boards.panel_queries()


def prometheus_get(lab: Lab, path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
    """The API's answer, also on HTTP 400/422, whose body carries the error."""
    url = f"{lab.prometheus.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as err:
        return json.loads(err.read() or b"{}") | {"http_status": err.code}


@pytest.fixture(scope="session")
def variable_values(lab: Lab) -> dict[str, dict[str, str]]:
    """{board file: {variable: value}}: each board's variables resolved in order, the way
    Grafana does, with multi-value variables at All (`.*`) and others at their first value."""
    resolved: dict[str, dict[str, str]] = {}
    for file, board in boards.load().items():
        values: dict[str, str] = {}
        for variable in board.get("templating", {}).get("list", []):
            if variable["type"] == "datasource":
                continue
            assert variable["type"] == "query", f"{file}: unexpected variable {variable}"
            options = resolve_variable(lab, file, variable, values)
            values[variable["name"]] = (
                variable["allValue"] if variable.get("includeAll") else options[0]
            )
        resolved[file] = values
    return resolved


def resolve_variable(
    lab: Lab, file: str, variable: dict[str, Any], values: dict[str, str]
) -> list[str]:
    selector, label = boards.parse_label_values(variable["query"])
    selector = boards.substitute(selector, values)
    # Grafana 11 asks the label values endpoint with the selector as match[].
    answer = prometheus_get(
        lab,
        f"label/{label}/values",
        [("match[]", selector), ("start", str(time.time() - 3600)), ("end", str(time.time()))],
    )
    where = f"board {file}, variable ${variable['name']} ({variable['query']!r} as {selector!r})"
    assert answer.get("status") == "success", f"{where}: {answer}"
    assert answer["data"], f"{where}: no values in the lab"
    return sorted(answer["data"])


def test_every_variable_resolves(variable_values: dict[str, dict[str, str]]) -> None:
    for file, board in boards.load().items():
        names = {v["name"] for v in board["templating"]["list"] if v["type"] != "datasource"}
        assert set(variable_values[file]) == names


def test_the_lab_gives_what_the_data_check_relies_on(lab: Lab) -> None:
    missing = lab.required_families - lab.present_families()
    assert not missing, f"the lab's exporter does not give {sorted(missing)}"


def test_every_collector_feeds_the_lab(lab: Lab) -> None:
    """A collector that exists must have a target in the lab, or its panels would only ever
    be checked for syntax. Add its peer's target in tests/dashboards/conftest.py."""
    kinds = {
        module.name
        for module in pkgutil.iter_modules(exporter.collectors.__path__)
        if hasattr(importlib.import_module(f"exporter.collectors.{module.name}"), "create")
    }
    assert kinds - lab.kinds == set(), (
        f"collectors without a target in the dashboards lab: {sorted(kinds - lab.kinds)}"
    )


@pytest.mark.parametrize("query", QUERIES, ids=[f"{q.file}:{q.panel}:{q.ref}" for q in QUERIES])
def test_panel_query(
    lab: Lab, variable_values: dict[str, dict[str, str]], query: boards.PanelQuery
) -> None:
    expr = boards.substitute(query.expr, variable_values[query.file])
    now = time.time()
    if query.instant:
        answer = prometheus_get(lab, "query", [("query", expr), ("time", str(now))])
    else:
        answer = prometheus_get(
            lab,
            "query_range",
            [("query", expr), ("start", str(now - 60)), ("end", str(now)), ("step", "1")],
        )
    assert answer.get("status") == "success", f"{query} failed: {expr!r}: {answer}"
    assert not answer.get("warnings"), f"{query}: {answer['warnings']}"

    families = boards.metric_names(query.expr)
    present = lab.present_families()
    key = (query.file, query.panel, query.ref)
    if families <= present and key not in EXPECTED_EMPTY:
        assert answer["data"]["result"], (
            f"{query} returned no data although the lab gives {sorted(families)}: {expr!r}"
        )
