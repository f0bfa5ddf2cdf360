"""Every panel and variable query of every board, run against the real Prometheus of the lab.

Each board's variables are resolved in the lab the way Grafana resolves them, for every
selection a user can make. A panel query must answer with status success for each; a query
on families the lab gives must return data for at least one, unless it lists only problems
the lab does not have (EXPECTED_EMPTY). Test ids name the board file, panel and query, so a
failure says which panel to fix.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

import exporter.collectors
from tests.dashboards import boards
from tests.dashboards.conftest import Lab

# Queries that list problems: (board file, panel title, refId) -> the kinds of target whose
# lab scenario has such a problem. Without one of them in the lab the query may be empty.
EXPECTED_EMPTY: dict[tuple[str, str, str], set[str]] = {
    # libvirt's test driver cannot enable autostart (test_autostart_table proves the query);
    # the vSphere scenario powers off an autostart VM.
    ("fleet-overview.json", "VMs that failed to autostart", "A"): {"vsphere"},
    # No VM of the lab failed to start (tests/libvirt/test_qemu.py and the alert tests
    # prove the failure families on real libvirtd).
    ("host.json", "VMs on this host", "G"): set(),
    ("vm.json", "Why it is not running: the hypervisor's record", "B"): set(),
    ("vm.json", "Why it is not running: the hypervisor's record", "C"): set(),
    # The lab's Ceph cluster is healthy.
    ("storage.json", "Active health checks", "A"): set(),
    ("storage.json", "OSDs down now", "A"): set(),
    ("storage.json", "OSD flags set", "A"): set(),
}
MAX_SELECTIONS = 60  # per board: every VM of the lab, bounded

QUERIES = boards.panel_queries()


def prometheus_get(lab: Lab, path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
    """The API's answer, also on HTTP 400/422, whose body carries the error."""
    url = f"{lab.prometheus.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    answer: dict[str, Any]
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as err:
        answer = json.loads(err.read() or b"{}") | {"http_status": err.code}
    return answer


@pytest.fixture(scope="package")
def selections(lab: Lab) -> dict[str, list[dict[str, str]]]:
    """{board file: [{variable: value}, ...]}: every selection a user can make in the lab,
    each board's variables resolved in order the way Grafana does (a variable's query sees the
    values chosen before it). Multi-value variables stay at All (`.*`)."""
    resolved: dict[str, list[dict[str, str]]] = {}
    for file, board in boards.load().items():
        chosen: list[dict[str, str]] = [{}]
        for variable in board.get("templating", {}).get("list", []):
            if variable["type"] == "datasource":
                continue
            assert variable["type"] == "query", f"{file}: unexpected variable {variable}"
            grown = []
            for values in chosen:
                options = resolve_variable(lab, file, variable, values)
                if variable.get("includeAll"):
                    options = [variable["allValue"]]
                grown += [{**values, variable["name"]: option} for option in options]
            chosen = grown[:MAX_SELECTIONS]
        resolved[file] = chosen
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


def test_every_variable_resolves(selections: dict[str, list[dict[str, str]]]) -> None:
    for file, board in boards.load().items():
        names = {v["name"] for v in board["templating"]["list"] if v["type"] != "datasource"}
        assert selections[file], file
        assert all(set(values) == names for values in selections[file]), file


def test_the_lab_gives_what_the_data_check_relies_on(lab: Lab) -> None:
    missing = lab.required_families - lab.present_families()
    assert not missing, f"the lab's exporter does not give {sorted(missing)}"


def test_every_collector_feeds_the_lab(lab: Lab) -> None:
    """A collector that exists must have a target in the lab, or its panels would only ever
    be checked for syntax. Add its peer's target in tests/dashboards/conftest.py."""
    kinds = set(exporter.collectors.kinds())
    assert kinds - lab.kinds == set(), (
        f"collectors without a target in the dashboards lab: {sorted(kinds - lab.kinds)}"
    )


def run(lab: Lab, query: boards.PanelQuery, values: dict[str, str]) -> dict[str, Any]:
    expr = boards.substitute(query.expr, values)
    now = time.time()
    if query.instant:
        return prometheus_get(lab, "query", [("query", expr), ("time", str(now))])
    return prometheus_get(
        lab,
        "query_range",
        [("query", expr), ("start", str(now - 60)), ("end", str(now)), ("step", "1")],
    )


@pytest.mark.parametrize("query", QUERIES, ids=[f"{q.file}:{q.panel}:{q.ref}" for q in QUERIES])
def test_panel_query(
    lab: Lab, selections: dict[str, list[dict[str, str]]], query: boards.PanelQuery
) -> None:
    """Succeeds for every selection of the board's variables; returns data for at least one
    when the lab gives the families it reads."""
    with_data = []
    for values in selections[query.file]:
        answer = run(lab, query, values)
        where = f"{query} with {values}"
        assert answer.get("status") == "success", f"{where} failed: {query.expr!r}: {answer}"
        assert not answer.get("warnings"), f"{where}: {answer['warnings']}"
        result = answer["data"]["result"]
        if query.merged:
            named = [r["metric"] for r in result if "__name__" in r["metric"]]
            assert not named, f"{where}: merge cannot join rows that carry __name__: {named}"
        if result:
            with_data.append(values)

    families = boards.metric_names(query.expr)
    fillers = EXPECTED_EMPTY.get((query.file, query.panel, query.ref))
    expect_data = families <= lab.present_families() and (
        fillers is None or bool(fillers & lab.kinds)
    )
    if expect_data:
        assert with_data, (
            f"{query} returned no data for any of {len(selections[query.file])} selections"
            f" although the lab gives {sorted(families)}: {query.expr!r}"
        )


def instant(lab: Lab, file: str, panel: str, values: dict[str, str]) -> list[dict[str, Any]]:
    [query] = [q for q in QUERIES if q.file == file and q.panel == panel]
    return lab.prometheus.query(boards.substitute(query.expr, values))


def test_fleet_panels_count_what_the_lab_holds(lab: Lab) -> None:
    """What a user reads off the fleet board: the broken target down, the others up, and
    the lab's VMs (the test driver's one running VM, web01 running, batch01 paused, db01
    shut off) counted in their states."""
    every = {"target": "demo|lab|broken"}  # the libvirt targets; other kinds have their own
    up = {
        r["metric"]["target"]: r["value"][1]
        for r in instant(lab, "fleet-overview.json", "Targets up", every)
    }
    assert up["broken"] == "0"
    assert up["demo"] == up["lab"] == "1"
    states = {
        r["metric"]["state"]: int(r["value"][1])
        for r in instant(lab, "fleet-overview.json", "VMs by power state", every)
    }
    assert states == {
        "running": 2,
        "paused": 1,
        "stopped": 1,
        "suspended": 0,
        "crashed": 0,
        "unknown": 0,
    }


def test_host_table_joins_each_vm_into_one_row(lab: Lab) -> None:
    values = {"target": "lab", "host": lab_host(lab)}
    [board] = [b for f, b in boards.load().items() if f == "host.json"]
    [panel] = [p for p in boards.panels(board) if p["title"] == "VMs on this host"]
    rows: dict[str, dict[str, str]] = {}
    for target in panel["targets"]:
        expr = boards.substitute(target["expr"], values)
        for r in lab.prometheus.query(expr):
            rows.setdefault(r["metric"]["vm"], {}).update(
                {k: v for k, v in r["metric"].items() if k not in ("target", "host", "vm")}
                | {f"Value #{target['refId']}": r["value"][1]}
            )
    # libvirt's test driver gives every domain the reason unknown; none failed to start.
    reason = {"reason": "unknown", "Value #F": "1"}
    assert rows == {
        "web01": {"state": "running", "Value #A": "1", "Value #B": "0"} | reason,
        "batch01": {"state": "paused", "Value #A": "1", "Value #B": "0"} | reason,
        "db01": {"state": "stopped", "Value #A": "1", "Value #B": "0"} | reason,
    }


def lab_host(lab: Lab) -> str:
    [result] = lab.prometheus.query('hypervisor_host_info{target="lab"}')
    return str(result["metric"]["host"])
