"""Storage: datastores and storage pools, Ceph clusters, iSCSI sessions."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dm

from dashboards.src import panels as shared
from dashboards.src import thresholds as th
from dashboards.src.common import (
    UP_DOWN,
    YES_NO,
    board,
    datasource_variable,
    graph,
    keyed,
    limit_override,
    query,
    query_variable,
    row,
    table_panel,
    value_mappings,
)
from dashboards.src.thresholds import COLOURS

SEL = 'target=~"$target"'
DS = ("target", "datastore")
POOL = ("target", "pool")
SESSION = ("target", "session", "iqn", "portal")

SEVERITY = value_mappings(
    {
        "HEALTH_WARN": ("HEALTH_WARN", COLOURS["warning"]),
        "HEALTH_ERR": ("HEALTH_ERR", COLOURS["critical"]),
    }
)


def build() -> dm.Dashboard:
    free_ratio = shared.free_ratio(SEL)
    pool_used_ratio = (
        f"hypervisor_ceph_pool_stored_bytes{{{SEL}}} / ((hypervisor_ceph_pool_stored_bytes{{{SEL}}}"
        f" + hypervisor_ceph_pool_available_bytes{{{SEL}}}) > 0)"
    )
    panels = [
        row(100, "Datastores and storage pools"),
        shared.datastore_free(1, SEL),
        table_panel(
            2,
            "Datastores",
            "Capacity, free bytes, free share, accessibility, provisioned bytes and VMs of each"
            " datastore or pool (hypervisor_datastore_capacity_bytes, _free_bytes,"
            " _accessible, _provisioned_bytes, _vms). An inaccessible datastore (vSphere) or"
            " stopped pool (libvirt) shows no; provisioned counts thin disks at their full"
            " size, so it can exceed the capacity.",
            [
                query(
                    keyed(f"hypervisor_datastore_capacity_bytes{{{SEL}}}", *DS), ref="A", table=True
                ),
                query(keyed(f"hypervisor_datastore_free_bytes{{{SEL}}}", *DS), ref="B", table=True),
                query(keyed(free_ratio, *DS), ref="C", table=True),
                query(keyed(f"hypervisor_datastore_accessible{{{SEL}}}", *DS), ref="D", table=True),
                query(
                    keyed(f"hypervisor_datastore_provisioned_bytes{{{SEL}}}", *DS),
                    ref="E",
                    table=True,
                ),
                query(keyed(f"hypervisor_datastore_vms{{{SEL}}}", *DS), ref="F", table=True),
            ],
            columns={
                "target": "target",
                "datastore": "datastore",
                "Value #A": "capacity",
                "Value #B": "free",
                "Value #C": "free share",
                "Value #D": "accessible",
                "Value #E": "provisioned",
                "Value #F": "VMs",
            },
            mappings={"Value #D": YES_NO},
            units={"Value #A": "bytes", "Value #B": "bytes", "Value #E": "bytes"},
            sort_by="free share",
            w=12,
        ).override_by_name("Value #C", _free_share_cells()),
        graph(
            3,
            "Free space over time",
            "Free bytes of each datastore or pool (hypervisor_datastore_free_bytes): the"
            " slope tells how soon it fills.",
            [query(f"hypervisor_datastore_free_bytes{{{SEL}}}", "{{target}} / {{datastore}}")],
            unit="bytes",
        ),
        graph(
            20,
            "Provisioned / capacity",
            "Bytes promised to thin disks per byte of capacity"
            " (hypervisor_datastore_provisioned_bytes / _capacity_bytes): over 100% is"
            " overcommitted, and fills if every disk grows to its size.",
            [
                query(
                    f"hypervisor_datastore_provisioned_bytes{{{SEL}}}"
                    f" / (hypervisor_datastore_capacity_bytes{{{SEL}}} > 0)",
                    "{{target}} / {{datastore}}",
                )
            ],
            unit="percentunit",
        ),
        row(101, "Ceph"),
        shared.ceph_health(4, SEL, w=6),
        shared.ceph_osds(5, SEL, w=6),
        graph(
            6,
            "OSDs down",
            "Share of OSDs down per cluster ((osds - osds_up) / osds)."
            f" {th.CEPH_OSD_DOWN_HIGH.fires}: the cluster is degraded.",
            [query(shared.osd_down_ratio(SEL), "{{target}}")],
            limit=th.CEPH_OSD_DOWN_HIGH,
            max_value=1,
        ),
        table_panel(
            7,
            "Active health checks",
            "Ceph health checks currently raised (hypervisor_ceph_health_check), such as"
            " OSD_DOWN or PG_DEGRADED, with their severity. Empty on a healthy cluster.",
            [query(f"hypervisor_ceph_health_check{{{SEL}}} == 1", table=True)],
            columns={"target": "target", "check": "check", "severity": "severity"},
            mappings={"severity": SEVERITY},
            no_value="No active health check",
            w=12,
        ),
        table_panel(
            8,
            "OSDs down now",
            "OSDs that are down (hypervisor_ceph_osd_up == 0), by Ceph's name (osd.2)."
            " Empty when every OSD is up.",
            [query(f"hypervisor_ceph_osd_up{{{SEL}}} == 0", table=True)],
            columns={"target": "target", "osd": "osd", "Value": "up"},
            mappings={"Value": UP_DOWN},
            no_value="Every OSD is up",
            w=12,
        ),
        table_panel(
            21,
            "Ceph pools",
            "Per pool, as `ceph df` shows it: user data stored before replication"
            " (hypervisor_ceph_pool_stored_bytes), what the pool can still take given"
            " replication and the fullest OSD (_pool_available_bytes), the share used,"
            " stored / (stored + available), and objects (_pool_objects).",
            [
                query(
                    keyed(f"hypervisor_ceph_pool_stored_bytes{{{SEL}}}", *POOL),
                    ref="A",
                    table=True,
                ),
                query(
                    keyed(f"hypervisor_ceph_pool_available_bytes{{{SEL}}}", *POOL),
                    ref="B",
                    table=True,
                ),
                query(keyed(pool_used_ratio, *POOL), ref="C", table=True),
                query(keyed(f"hypervisor_ceph_pool_objects{{{SEL}}}", *POOL), ref="D", table=True),
            ],
            columns={
                "target": "target",
                "pool": "pool",
                "Value #A": "stored",
                "Value #B": "available",
                "Value #C": "used share",
                "Value #D": "objects",
            },
            units={"Value #A": "bytes", "Value #B": "bytes", "Value #C": "percentunit"},
            sort_by="used share",
            w=12,
        ),
        graph(
            22,
            "Ceph pool use",
            "Share of each pool used, stored / (stored + available), as ceph df's %USED.",
            [query(pool_used_ratio, "{{target}} / {{pool}}")],
            unit="percentunit",
            max_value=1,
        ),
        graph(
            23,
            "Degraded and misplaced objects",
            "Object copies short of their pool's size (hypervisor_ceph_objects_degraded) and"
            " copies waiting to move to where CRUSH wants them (_objects_misplaced): both"
            " fall to 0 as recovery and backfill finish.",
            [
                query(f"hypervisor_ceph_objects_degraded{{{SEL}}}", "{{target}} degraded", ref="A"),
                query(
                    f"hypervisor_ceph_objects_misplaced{{{SEL}}}", "{{target}} misplaced", ref="B"
                ),
            ],
        ),
        table_panel(
            24,
            "OSD flags set",
            "OSD map flags an operator set (hypervisor_ceph_osd_flag == 1): noout left set"
            " after maintenance keeps down OSDs in, so their data is never re-replicated."
            " Empty when none is set.",
            [query(f"hypervisor_ceph_osd_flag{{{SEL}}} == 1", table=True)],
            columns={"target": "target", "flag": "flag"},
            no_value="No OSD flag set",
            w=12,
        ),
        row(102, "iSCSI"),
        shared.iscsi_sessions(9, SEL, w=6),
        table_panel(
            10,
            "Sessions by portal",
            "Every iSCSI session with its target IQN, portal and kernel state"
            " (hypervisor_iscsi_session_info, hypervisor_iscsi_session_up).",
            [
                query(
                    keyed(f"hypervisor_iscsi_session_info{{{SEL}}}", *SESSION, "state"),
                    ref="A",
                    table=True,
                ),
                query(
                    keyed(f"hypervisor_iscsi_session_up{{{SEL}}}", *SESSION), ref="B", table=True
                ),
            ],
            columns={
                "target": "target",
                "session": "session",
                "iqn": "iqn",
                "portal": "portal",
                "state": "state",
                "Value #B": "logged in",
            },
            mappings={"Value #B": YES_NO},
            no_value="No iSCSI session",
            w=12,
        ),
        table_panel(
            11,
            "Connections",
            "Each iSCSI connection and whether it is up (hypervisor_iscsi_connection_up).",
            [query(f"hypervisor_iscsi_connection_up{{{SEL}}}", table=True)],
            columns={
                "target": "target",
                "session": "session",
                "connection": "connection",
                "Value": "up",
            },
            mappings={"Value": UP_DOWN},
            no_value="No iSCSI connection",
            w=6,
        ),
    ]
    return board(
        "storage",
        "Datastores and storage pools, Ceph clusters and iSCSI sessions of every target,"
        " against the alert thresholds.",
        [
            datasource_variable(),
            query_variable(
                "target",
                "Target",
                "label_values(hypervisor_target_up, target)",
                "Configured exporter targets (the `target` label).",
                multi=True,
            ),
        ],
        panels,
    )


def _free_share_cells() -> list[dm.DynamicConfigValue]:
    return [
        *limit_override(th.DATASTORE_FREE_LOW),
        dm.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-text"}),
    ]
