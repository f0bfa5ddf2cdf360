"""Panels that appear on more than one board, written once.

Each takes the board's own label selector (`target=~"$target"` on the fleet,
`target="$target", host="$host"` on a host) so that the query, unit, threshold and text stay
identical wherever the panel is shown.
"""

from __future__ import annotations

from collections.abc import Iterable

from grafana_foundation_sdk.builders import bargauge, stat, timeseries
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models.common import BigValueColorMode

from dashboards.src import thresholds as th
from dashboards.src.common import (
    CEPH_HEALTH,
    bars,
    graph,
    limit_override,
    plain_colour,
    power_state_colours,
    problem_count_override,
    query,
    stat_panel,
)


def free_ratio(sel: str) -> str:
    # A zero capacity (an unformatted pool) would divide to NaN or +Inf: leave it out.
    return (
        f"hypervisor_datastore_free_bytes{{{sel}}}"
        f" / (hypervisor_datastore_capacity_bytes{{{sel}}} > 0)"
    )


def osd_down_ratio(sel: str) -> str:
    """The expression of HypervisorCephOSDDownHigh, before its comparison."""
    return (
        f"(hypervisor_ceph_osds{{{sel}}} - hypervisor_ceph_osds_up{{{sel}}})"
        f" / (hypervisor_ceph_osds{{{sel}}} > 0)"
    )


def vms_by_power_state(pid: int, sel: str, *, w: int, scope: str) -> stat.Panel:
    return power_state_colours(
        stat_panel(
            pid,
            "VMs by power state",
            f"Number of {scope} VMs in each power state (hypervisor_vm_power_state)."
            " Stopped VMs are not a problem by themselves; stopped VMs with autostart are"
            " listed on the Fleet overview.",
            [
                query(
                    f"sum by (state) (hypervisor_vm_power_state{{{sel}}})",
                    "{{state}}",
                    instant=True,
                )
            ],
            w=w,
        )
    )


def cpu_idle(
    pid: int,
    sel: str,
    legend: str,
    links: Iterable[db.DashboardLink] = (),
    title: str = "CPU idle",
) -> timeseries.Panel:
    return graph(
        pid,
        title,
        "Share of CPU time spent idle (hypervisor_host_cpu_idle_ratio)."
        f" {th.CPU_IDLE_LOW.fires}: scale out. The legend lists the busiest first.",
        [query(f"hypervisor_host_cpu_idle_ratio{{{sel}}}", legend)],
        limit=th.CPU_IDLE_LOW,
        max_value=1,
        links=links,
    )


def memory_usage(
    pid: int, sel: str, legend: str, links: Iterable[db.DashboardLink] = ()
) -> timeseries.Panel:
    return graph(
        pid,
        "Memory usage",
        "Share of memory in use (hypervisor_host_memory_usage_ratio)."
        f" {th.MEMORY_HIGH.fires}: defer VM starts there.",
        [query(f"hypervisor_host_memory_usage_ratio{{{sel}}}", legend)],
        limit=th.MEMORY_HIGH,
        max_value=1,
        links=links,
    )


def disk_queue(
    pid: int, queries: list[tuple[str, str]], what: str, *, w: int = 12
) -> timeseries.Panel:
    """`queries` are (expression, legend) of host devices and/or VM disks."""
    return graph(
        pid,
        "Disk queue length",
        f"Average outstanding I/Os {what} (iostat's aqu-sz). {th.DISK_QUEUE_HIGH.fires}:"
        " expand storage.",
        [query(expr, legend, ref=chr(ord("A") + i)) for i, (expr, legend) in enumerate(queries)],
        limit=th.DISK_QUEUE_HIGH,
        w=w,
    )


def packet_loss(
    pid: int, queries: list[tuple[str, str]], what: str, *, w: int = 12
) -> timeseries.Panel:
    """`queries` are (expression, legend) of host interfaces and/or VM interfaces."""
    return graph(
        pid,
        "Packet loss",
        f"Dropped / (packets + dropped) {what}. {th.PACKET_LOSS_HIGH.fires}: upgrade bandwidth.",
        [query(expr, legend, ref=chr(ord("A") + i)) for i, (expr, legend) in enumerate(queries)],
        limit=th.PACKET_LOSS_HIGH,
        w=w,
    )


def datastore_free(
    pid: int, sel: str, *, w: int = 12, links: Iterable[db.DashboardLink] = ()
) -> bargauge.Panel:
    return bars(
        pid,
        "Datastore free space",
        "Free / capacity of each datastore or libvirt storage pool, fullest first"
        " (hypervisor_datastore_free_bytes / hypervisor_datastore_capacity_bytes)."
        f" {th.DATASTORE_FREE_LOW.fires}.",
        [query(f"sort({free_ratio(sel)})", "{{target}} / {{datastore}}", instant=True)],
        limit=th.DATASTORE_FREE_LOW,
        max_value=1,
        w=w,
        links=links,
    )


def ceph_health(
    pid: int, sel: str, *, w: int, links: Iterable[db.DashboardLink] = ()
) -> stat.Panel:
    return stat_panel(
        pid,
        "Ceph health",
        "Ceph's overall health per cluster (hypervisor_ceph_health_status): HEALTH_ERR"
        " fires HypervisorCephHealthError (critical), HEALTH_WARN HypervisorCephHealthWarning"
        " (warning). The Storage board lists the active checks.",
        [query(f"hypervisor_ceph_health_status{{{sel}}}", "{{target}}", instant=True)],
        mappings=CEPH_HEALTH,
        w=w,
        no_value="No Ceph target",
        links=links,
    )


def ceph_osds(pid: int, sel: str, *, w: int) -> stat.Panel:
    return (
        stat_panel(
            pid,
            "Ceph OSDs up",
            "OSDs up and in out of all OSDs per cluster (hypervisor_ceph_osds_up, _osds_in,"
            f" hypervisor_ceph_osds), and the share down: over {th.CEPH_OSD_DOWN_HIGH.text}"
            f" down fires {th.CEPH_OSD_DOWN_HIGH.alert} ({th.CEPH_OSD_DOWN_HIGH.severity}).",
            [
                query(f"hypervisor_ceph_osds_up{{{sel}}}", "{{target}} up", ref="A", instant=True),
                query(f"hypervisor_ceph_osds_in{{{sel}}}", "{{target}} in", ref="B", instant=True),
                query(f"hypervisor_ceph_osds{{{sel}}}", "{{target}} total", ref="C", instant=True),
                query(osd_down_ratio(sel), "{{target}} down", ref="D", instant=True),
            ],
            w=w,
            no_value="No Ceph target",
        )
        .override_by_query("A", plain_colour())
        .override_by_query("B", plain_colour())
        .override_by_query("C", plain_colour())
        .override_by_query("D", limit_override(th.CEPH_OSD_DOWN_HIGH))
    )


def iscsi_sessions(pid: int, sel: str, *, w: int) -> stat.Panel:
    return (
        stat_panel(
            pid,
            "iSCSI sessions up",
            "iSCSI sessions logged in per target (hypervisor_iscsi_session_up) and those"
            " that are not: any session not LOGGED_IN fires HypervisorISCSISessionDown"
            " (critical).",
            [
                query(
                    f"sum by (target) (hypervisor_iscsi_session_up{{{sel}}})",
                    "{{target}} up",
                    ref="A",
                    instant=True,
                ),
                query(
                    f"count by (target) (hypervisor_iscsi_session_up{{{sel}}} == 0)",
                    "{{target}} down",
                    ref="B",
                    instant=True,
                ),
            ],
            w=w,
            no_value="No iSCSI target",
        )
        .override_by_query("A", plain_colour())
        .override_by_query("B", problem_count_override("critical"))
    )


def uptime(pid: int, metric: str, sel: str, what: str, *, w: int) -> stat.Panel:
    return stat_panel(
        pid,
        "Up since",
        f"Time since {what} ({metric} subtracted from now).",
        [query(f"time() - {metric}{{{sel}}}", "uptime", instant=True)],
        unit="s",
        w=w,
        colour=BigValueColorMode.NONE,
        no_value="not reported",
    )
