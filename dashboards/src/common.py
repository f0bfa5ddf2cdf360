"""Building blocks every board shares: data source, variables, queries, panels, links.

Boards call these instead of the SDK's builders directly so that units, threshold lines,
colours, drill-down links and the checks on panel ids live in one place. Panel ids are given
explicitly by each board (Grafana keeps a panel's id in links such as `viewPanel=`, and the SDK
assigns none): `board()` refuses duplicates.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from grafana_foundation_sdk.builders import (
    bargauge,
    prometheus,
    stat,
    statetimeline,
    table,
    timeseries,
)
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from dashboards.src.thresholds import COLOURS, GREY, Limit, Severity

# Every query runs on the data source the user picks in the `datasource` variable.
DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
TAGS = ["hypervisor-exporter"]

# uid and title of each board: the uid is the stable part of its URL, used by the links.
BOARDS: dict[str, tuple[str, str]] = {
    "fleet": ("hypervisor-fleet", "Hypervisor / Fleet overview"),
    "host": ("hypervisor-host", "Hypervisor / Host"),
    "vm": ("hypervisor-vm", "Hypervisor / VM"),
    "storage": ("hypervisor-storage", "Hypervisor / Storage"),
}

POWER_STATE_COLOURS = {
    "running": COLOURS["ok"],
    "stopped": GREY,
    "paused": "yellow",
    "suspended": COLOURS["info"],
    "crashed": COLOURS["critical"],
    "unknown": "purple",
}

CONNECTION_STATE_COLOURS = {
    "connected": COLOURS["ok"],
    "disconnected": COLOURS["critical"],
    "not_responding": COLOURS["critical"],
}

Panel = TypeVar(
    "Panel",
    timeseries.Panel,
    stat.Panel,
    table.Panel,
    bargauge.Panel,
    statetimeline.Panel,
)


# --- Variables ---------------------------------------------------------------------------
def datasource_variable() -> db.DatasourceVariable:
    return (
        db.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .description("Prometheus that scrapes hypervisor-exporter.")
    )


def query_variable(
    name: str, label: str, query: str, description: str, *, multi: bool = False
) -> db.QueryVariable:
    """A variable from `label_values(...)`. Multi-value variables offer All as `.*`, so queries
    use `=~"$name"`; single-value ones use `="$name"`."""
    variable = (
        db.QueryVariable(name)
        .label(label)
        .description(description)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
    )
    if multi:
        variable = variable.multi(True).include_all(True).all_value(".*")
    return variable


# --- Queries -----------------------------------------------------------------------------
def query(
    expr: str, legend: str = "", *, ref: str = "A", instant: bool = False, table: bool = False
) -> prometheus.Dataquery:
    """A Prometheus query. Tables and current-state stats are instant; graphs are ranges."""
    q = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    if legend:
        q = q.legend_format(legend)
    if table:
        q = q.instant().format(PromQueryFormat.TABLE)
    elif instant:
        q = q.instant()
    else:
        q = q.range()
    return q


def keyed(expr: str, *labels: str) -> str:
    """`expr` as one series per `labels`, without the metric name. The queries of a
    multi-query table must look like this: Grafana's merge joins rows whose common columns
    all match, and a `__name__` column differing between queries would keep them apart."""
    return f"max by ({', '.join(labels)}) ({expr})"


# --- Thresholds, mappings, overrides -----------------------------------------------------
def threshold_steps(limit: Limit | None = None) -> list[dm.Threshold]:
    """Green on the good side of the alert's line, the alert's severity colour on the bad."""
    if limit is None:
        return [dm.Threshold(value=None, color=COLOURS["ok"])]
    if limit.bad == "below":
        return [
            dm.Threshold(value=None, color=limit.colour),
            dm.Threshold(value=limit.value, color=COLOURS["ok"]),
        ]
    return [
        dm.Threshold(value=None, color=COLOURS["ok"]),
        dm.Threshold(value=limit.value, color=limit.colour),
    ]


def thresholds(limit: Limit | None = None) -> db.ThresholdsConfig:
    return db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(threshold_steps(limit))


def limit_override(limit: Limit) -> list[dm.DynamicConfigValue]:
    """Unit and threshold of one query of a panel whose other queries show something else."""
    steps = [step.to_json() for step in threshold_steps(limit)]
    return [
        dm.DynamicConfigValue(id_val="unit", value=limit.unit),
        dm.DynamicConfigValue(id_val="thresholds", value={"mode": "absolute", "steps": steps}),
    ]


def problem_count_override(severity: Severity) -> list[dm.DynamicConfigValue]:
    """For a count of broken things: green at zero, the alert's severity colour from one."""
    steps = [
        dm.Threshold(value=None, color=COLOURS["ok"]).to_json(),
        dm.Threshold(value=1, color=COLOURS[severity]).to_json(),
    ]
    return [dm.DynamicConfigValue(id_val="thresholds", value={"mode": "absolute", "steps": steps})]


def plain_colour() -> list[dm.DynamicConfigValue]:
    """For a number that is neither good nor bad by itself (a total, a count of sessions)."""
    return [fixed_colour("text")]


def value_mappings(texts: dict[str, tuple[str, str]]) -> list[dm.ValueMapping]:
    """{value: (text, colour)} as one value-to-text mapping."""
    return [
        dm.ValueMap(
            options={
                value: dm.ValueMappingResult(text=text, color=colour, index=index)
                for index, (value, (text, colour)) in enumerate(texts.items())
            }
        )
    ]


UP_DOWN = value_mappings({"0": ("Down", COLOURS["critical"]), "1": ("Up", COLOURS["ok"])})
ENABLED = value_mappings({"0": ("disabled", GREY), "1": ("enabled", COLOURS["ok"])})
YES_NO = value_mappings({"0": ("no", COLOURS["warning"]), "1": ("yes", COLOURS["ok"])})
POWER_STATE = value_mappings({state: (state, c) for state, c in POWER_STATE_COLOURS.items()})
CEPH_HEALTH = value_mappings(
    {
        "0": ("HEALTH_OK", COLOURS["ok"]),
        "1": ("HEALTH_WARN", COLOURS["warning"]),
        "2": ("HEALTH_ERR", COLOURS["critical"]),
    }
)


def fixed_colour(colour: str) -> dm.DynamicConfigValue:
    return dm.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": colour})


def state_colours(panel: Panel, colours: dict[str, str]) -> Panel:
    """Series named after a state (legend `{{state}}`) get that state's colour."""
    for state, colour in colours.items():
        panel = panel.override_by_name(state, [fixed_colour(colour)])
    return panel


def power_state_colours(panel: Panel) -> Panel:
    return state_colours(panel, POWER_STATE_COLOURS)


def connection_state_colours(panel: Panel) -> Panel:
    return state_colours(panel, CONNECTION_STATE_COLOURS)


# --- Links -------------------------------------------------------------------------------
def board_links(current: str) -> list[Builder[dm.DashboardLink]]:
    """Links to the other boards that carry this board's variables and time range."""
    return [
        db.DashboardLink(title)
        .type(dm.DashboardLinkType.LINK)
        .url(f"/d/{uid}")
        .icon("dashboard")
        .tooltip(f"Open {title} with the current selection")
        .include_vars(True)
        .keep_time(True)
        .as_dropdown(False)
        .target_blank(False)
        for key, (uid, title) in BOARDS.items()
        if key != current
    ]


def drilldown(board: str, **variables: str) -> db.DashboardLink:
    """A data link to another board: the data source and time range carry over, and each
    variable is set from the clicked series or row (`${__field.labels.host}`,
    `${__data.fields.vm}`)."""
    uid, title = BOARDS[board]
    params = "".join(f"&var-{name}={value}" for name, value in variables.items())
    return (
        db.DashboardLink(f"Open in {title}")
        .url(f"/d/{uid}?${{datasource:queryparam}}{params}&${{__url_time_range}}")
        .type(dm.DashboardLinkType.LINK)
        .target_blank(False)
    )


def series_label(name: str) -> str:
    """In a data link on a graph: the clicked series' label, encoded for a URL (VM names may
    hold spaces, and duplicates carry the platform id in brackets)."""
    return f"${{__field.labels.{name}:percentencode}}"


def row_field(name: str) -> str:
    """In a data link on a table: the clicked row's column (it must be a shown column)."""
    return f"${{__data.fields.{name}:percentencode}}"


def board_variable(name: str) -> str:
    """In a data link: this board's own variable."""
    return f"${{{name}:percentencode}}"


def host_link(target: str | None = None, host: str | None = None) -> db.DashboardLink:
    """To the Host board; by default from the clicked series' labels."""
    return drilldown(
        "host", target=target or series_label("target"), host=host or series_label("host")
    )


def vm_link(target: str, host: str, vm: str) -> db.DashboardLink:
    return drilldown("vm", target=target, host=host, vm=vm)


# --- Panels ------------------------------------------------------------------------------
def _common(
    panel: Panel,
    pid: int,
    title: str,
    description: str,
    queries: Sequence[prometheus.Dataquery],
    *,
    w: int,
    h: int,
    unit: str | None,
    limit: Limit | None,
    mappings: list[dm.ValueMapping] | None,
    no_value: str | None,
    links: Iterable[db.DashboardLink],
    decimals: int | None = None,
) -> Panel:
    panel = (
        panel.id(pid)
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(list(queries))
        .span(w)
        .height(h)
        .thresholds(thresholds(limit))
    )
    unit = unit or (limit.unit if limit else None)
    if unit:
        panel = panel.unit(unit)
    if decimals is not None:
        panel = panel.decimals(decimals)
    if mappings:
        panel = panel.mappings(mappings)
    if no_value:
        panel = panel.no_value(no_value)
    link_list: list[Builder[dm.DashboardLink]] = list(links)
    if link_list:
        panel = panel.data_links(link_list)
    return panel


def graph(
    pid: int,
    title: str,
    description: str,
    queries: Sequence[prometheus.Dataquery],
    *,
    limit: Limit | None = None,
    unit: str | None = None,
    w: int = 12,
    h: int = 8,
    min_value: float | None = 0,
    max_value: float | None = None,
    worst_first: bool = True,
    links: Iterable[db.DashboardLink] = (),
    no_value: str | None = None,
) -> timeseries.Panel:
    """A time series. With a limit its line is drawn dashed and the legend (a table with the
    last, mean and max) lists the worst series first."""
    panel = _common(
        timeseries.Panel(),
        pid,
        title,
        description,
        queries,
        w=w,
        h=h,
        unit=unit,
        limit=limit,
        mappings=None,
        no_value=no_value,
        links=links,
    )
    if min_value is not None:
        panel = panel.min(min_value)
    if max_value is not None:
        panel = panel.max(max_value)
    legend = (
        common_builders.VizLegendOptions()
        .display_mode(cm.LegendDisplayMode.TABLE)
        .placement(cm.LegendPlacement.RIGHT)
        .show_legend(True)
        .calcs(["lastNotNull", "mean", "max"])
    )
    if limit is not None:
        panel = panel.thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.DASHED)
        )
        # Worst first: lowest last value for a "below" limit, highest for an "above" one.
        if worst_first:
            legend = legend.sort_by("Last *").sort_desc(limit.bad == "above")
    return (
        panel.legend(legend)
        .tooltip(
            common_builders.VizTooltipOptions()
            .mode(cm.TooltipDisplayMode.MULTI)
            .sort(cm.SortOrder.DESCENDING)
        )
        .line_width(1)
        .fill_opacity(10)
        .show_points(cm.VisibilityMode.NEVER)
    )


def stat_panel(
    pid: int,
    title: str,
    description: str,
    queries: Sequence[prometheus.Dataquery],
    *,
    limit: Limit | None = None,
    unit: str | None = None,
    mappings: list[dm.ValueMapping] | None = None,
    w: int = 6,
    h: int = 4,
    no_value: str | None = None,
    links: Iterable[db.DashboardLink] = (),
    colour: cm.BigValueColorMode = cm.BigValueColorMode.BACKGROUND,
    decimals: int | None = None,
    show: cm.BigValueTextMode = cm.BigValueTextMode.VALUE_AND_NAME,
) -> stat.Panel:
    """The current value of each series, coloured by its threshold, mapping or override
    (`colour` NONE for facts that are neither good nor bad)."""
    panel = _common(
        stat.Panel(),
        pid,
        title,
        description,
        queries,
        w=w,
        h=h,
        unit=unit,
        limit=limit,
        mappings=mappings,
        no_value=no_value,
        links=links,
        decimals=decimals,
    )
    return (
        panel.reduce_options(
            common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)
        )
        .graph_mode(cm.BigValueGraphMode.NONE)
        .color_mode(colour)
        .text_mode(show)
        .orientation(cm.VizOrientation.AUTO)
    )


def bars(
    pid: int,
    title: str,
    description: str,
    queries: Sequence[prometheus.Dataquery],
    *,
    limit: Limit | None = None,
    unit: str | None = None,
    w: int = 12,
    h: int = 8,
    min_value: float = 0,
    max_value: float | None = None,
    links: Iterable[db.DashboardLink] = (),
    no_value: str | None = None,
) -> bargauge.Panel:
    """Horizontal bars of the current value of each series, coloured by threshold."""
    panel = _common(
        bargauge.Panel(),
        pid,
        title,
        description,
        queries,
        w=w,
        h=h,
        unit=unit,
        limit=limit,
        mappings=None,
        no_value=no_value,
        links=links,
    ).min(min_value)
    if max_value is not None:
        panel = panel.max(max_value)
    return (
        panel.reduce_options(
            common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)
        )
        .orientation(cm.VizOrientation.HORIZONTAL)
        .display_mode(cm.BarGaugeDisplayMode.BASIC)
        .show_unfilled(True)
    )


def table_panel(
    pid: int,
    title: str,
    description: str,
    queries: Sequence[prometheus.Dataquery],
    *,
    columns: dict[str, str],
    mappings: dict[str, list[dm.ValueMapping]] | None = None,
    units: dict[str, str] | None = None,
    links: dict[str, db.DashboardLink] | None = None,
    w: int = 24,
    h: int = 8,
    no_value: str | None = None,
    sort_by: str | None = None,
) -> table.Panel:
    """A table of instant queries, merged on their common labels when there are several.

    `columns` maps the labels and `Value #X` columns to show, in order, to their headers;
    every other column is hidden, so a table does not grow when a platform adds labels.
    `mappings` colour a column's cells by value, `units` set its unit, `links` put a
    drill-down link on it."""
    panel = _common(
        table.Panel(),
        pid,
        title,
        description,
        queries,
        w=w,
        h=h,
        unit=None,
        limit=None,
        mappings=None,
        no_value=no_value,
        links=(),
    )
    if len(queries) > 1:
        panel = panel.with_transformation(dm.DataTransformerConfig(id_val="merge", options={}))
    panel = panel.with_transformation(
        dm.DataTransformerConfig(
            id_val="organize",
            options={
                "excludeByName": {},
                "includeByName": {name: True for name in columns},
                "indexByName": {name: index for index, name in enumerate(columns)},
                "renameByName": {name: head for name, head in columns.items() if name != head},
            },
        )
    )
    # Overrides match the field names before the rename: organize only sets display names.
    for name, column_mappings in (mappings or {}).items():
        panel = panel.override_by_name(
            name,
            [
                dm.DynamicConfigValue(id_val="mappings", value=column_mappings),
                dm.DynamicConfigValue(
                    id_val="custom.cellOptions", value={"type": "color-background"}
                ),
            ],
        )
    for name, unit in (units or {}).items():
        panel = panel.override_by_name(name, [dm.DynamicConfigValue(id_val="unit", value=unit)])
    for name, link in (links or {}).items():
        panel = panel.override_by_name(
            name, [dm.DynamicConfigValue(id_val="links", value=[link.build()])]
        )
    if sort_by:
        panel = panel.sort_by([common_builders.TableSortByFieldState().display_name(sort_by)])
    # align and inspect are the SDK model's defaults for a table: spelled out so the
    # committed JSON is exactly what the model reads back (the round-trip test).
    return (
        panel.cell_height(cm.TableCellHeight.SM)
        .show_header(True)
        .align(cm.FieldTextAlignment.AUTO)
        .inspect(False)
    )


def timeline(
    pid: int,
    title: str,
    description: str,
    queries: Sequence[prometheus.Dataquery],
    *,
    mappings: list[dm.ValueMapping],
    w: int = 24,
    h: int = 6,
    no_value: str | None = None,
) -> statetimeline.Panel:
    """A state timeline: one row per series, coloured by value mapping."""
    panel = _common(
        statetimeline.Panel(),
        pid,
        title,
        description,
        queries,
        w=w,
        h=h,
        unit=None,
        limit=None,
        mappings=mappings,
        no_value=no_value,
        links=(),
    )
    return (
        panel.show_value(cm.VisibilityMode.NEVER)
        .merge_values(True)
        .row_height(0.8)
        .fill_opacity(80)
        .legend(common_builders.VizLegendOptions().show_legend(False))
    )


def row(pid: int, title: str) -> db.Row:
    return db.Row(title).id(pid)


# --- Boards ------------------------------------------------------------------------------
def board(
    key: str,
    description: str,
    variables: Sequence[db.DatasourceVariable | db.QueryVariable],
    panels: Sequence[Any],
) -> dm.Dashboard:
    """Assembles a board; rows start a new line, panels flow left to right."""
    uid, title = BOARDS[key]
    builder = (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .editable()
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .time("now-6h", "now")
        .timezone("browser")
        .refresh("1m")
        .timepicker(db.TimePicker().refresh_intervals(["30s", "1m", "5m", "15m", "1h"]))
        .variables(list(variables))
        .links(board_links(key))
        .annotation(
            # Grafana's own annotations and alerts, as a board saved from the UI has them.
            db.AnnotationQuery()
            .name("Annotations & Alerts")
            .datasource(dm.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
            .enable(True)
            .hide(True)
            .icon_color("rgba(0, 211, 255, 1)")
            .type("dashboard")
            .built_in(1)
        )
    )
    for item in panels:
        builder = builder.with_row(item) if isinstance(item, db.Row) else builder.with_panel(item)
    model = builder.build()
    ids = [panel.id_val for panel in model.panels or []]
    duplicates = {pid for pid in ids if ids.count(pid) > 1}
    if None in ids or duplicates:
        raise ValueError(f"{title}: every panel needs a unique id; duplicates: {duplicates}")
    return model


def to_json(model: dm.Dashboard) -> str:
    """The committed form: sorted keys and two-space indents, so diffs stay small."""
    return json.dumps(model, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
