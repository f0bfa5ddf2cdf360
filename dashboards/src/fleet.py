"""Fleet overview: what needs attention across every target, worst first."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dm

from dashboards.src import panels as shared
from dashboards.src.common import (
    UP_DOWN,
    board,
    datasource_variable,
    drilldown,
    graph,
    host_link,
    query,
    query_variable,
    row,
    row_field,
    series_label,
    stat_panel,
    table_panel,
    vm_link,
)

SEL = 'target=~"$target"'

# The alert HypervisorVMAutostartFailed without its boot-time grace: VMs the platform should
# have started and did not, on hosts that are connected and out of maintenance. libvirt has
# no maintenance mode, so an absent maintenance series counts as "not in maintenance".
# The result keeps the VM's actual power state as the `state` label for the table.
AUTOSTART_FAILED = f"""\
hypervisor_vm_power_state{{{SEL}}} == 1
  and on (target, host, vm) (hypervisor_vm_autostart_enabled == 1)
  unless on (target, host, vm) (hypervisor_vm_power_state{{state="running"}} == 1)
  and on (target, host) (hypervisor_host_connection_state{{state="connected"}} == 1)
  unless on (target, host) (hypervisor_host_maintenance_mode == 1)"""

# The same rows with the hypervisor's own reason as a `reason` label where it recorded one:
# the latest start failure's message (vSphere, libvirt), else libvirt's reason for the
# state (`unknown` says nothing). From the exporter's families alone, so the board needs no
# recording rules; the alerts' hypervisor_vm:recorded_reason says the same with the
# platform's name in front.
AUTOSTART_FAILED_WITH_REASON = f"""(
  {AUTOSTART_FAILED.replace(chr(10), chr(10) + "  ")}
) * on (target, host, vm) group_left (reason) hypervisor_vm_start_failure_info{{{SEL}}}
or on (target, host, vm)
(
  {AUTOSTART_FAILED.replace(chr(10), chr(10) + "  ")}
) * on (target, host, vm) group_left (reason)
  hypervisor_vm_power_state_reason{{{SEL},reason!="unknown"}}
or on (target, host, vm)
(
  {AUTOSTART_FAILED.replace(chr(10), chr(10) + "  ")}
)"""

HOST_LEGEND = "{{target}} / {{host}}"


def build() -> dm.Dashboard:
    storage_link = drilldown("storage", target=series_label("target"))
    panels = [
        table_panel(
            1,
            "VMs that failed to autostart",
            "VMs with autostart enabled that are not running although their host is connected"
            " and not in maintenance: the condition of the HypervisorVMAutostartFailed alert"
            " (critical), shown at once rather than after the alert's grace following a host"
            " boot. The recorded reason is the hypervisor's own: the latest failed start's"
            " message (hypervisor_vm_start_failure_info), else libvirt's reason for the state"
            " (hypervisor_vm_power_state_reason: failed means libvirt tried and could not)."
            " Empty is good. Click a VM or host for its board.",
            [query(AUTOSTART_FAILED_WITH_REASON, table=True)],
            columns={
                "target": "target",
                "host": "host",
                "vm": "vm",
                "state": "power state",
                "reason": "recorded reason",
            },
            links={
                "vm": vm_link(row_field("target"), row_field("host"), row_field("vm")),
                "host": host_link(row_field("target"), row_field("host")),
            },
            no_value="No VM failed to autostart",
            h=7,
        ),
        row(100, "Inventory and targets"),
        shared.vms_by_power_state(2, SEL, w=12, scope="the selected targets'"),
        stat_panel(
            3,
            "Targets up",
            "Whether the latest collection of each configured target succeeded"
            " (hypervisor_target_up). Down fires HypervisorTargetDown (critical); the"
            " exporter's log and landing page say why.",
            [query(f"hypervisor_target_up{{{SEL}}}", "{{target}} ({{kind}})", instant=True)],
            mappings=UP_DOWN,
            w=12,
        ),
        row(101, "Hosts"),
        shared.cpu_idle(4, SEL, HOST_LEGEND, links=[host_link()], title="Hosts by CPU idle"),
        shared.memory_usage(5, SEL, HOST_LEGEND, links=[host_link()]),
        shared.disk_queue(
            6,
            [
                (f"hypervisor_host_disk_queue_length{{{SEL}}}", "{{host}} {{device}}"),
                (f"topk(10, hypervisor_vm_disk_queue_length{{{SEL}}})", "{{vm}} {{disk}}"),
            ],
            "per host device and, for the ten busiest, per VM disk"
            " (hypervisor_host_disk_queue_length, hypervisor_vm_disk_queue_length)",
        ),
        shared.packet_loss(
            7,
            [
                (
                    f"hypervisor_host_network_packet_loss_ratio{{{SEL}}}",
                    "{{host}} {{interface}}",
                ),
                (
                    f"topk(10, hypervisor_vm_network_packet_loss_ratio{{{SEL}}})",
                    "{{vm}} {{interface}}",
                ),
            ],
            "per host interface and, for the ten worst, per VM interface"
            " (hypervisor_host_network_packet_loss_ratio,"
            " hypervisor_vm_network_packet_loss_ratio)",
        ),
        row(102, "Storage"),
        shared.datastore_free(8, SEL, w=12, links=[storage_link]),
        shared.ceph_health(9, SEL, w=4, links=[storage_link]),
        shared.ceph_osds(10, SEL, w=4),
        shared.iscsi_sessions(11, SEL, w=4),
        row(103, "The exporter"),
        graph(
            12,
            "Collection duration",
            "Wall time of the latest collection of each target"
            " (hypervisor_target_scrape_duration_seconds), cut at the target's timeout. A"
            " duration near the timeout means the target is about to be reported down.",
            [
                query(
                    f"hypervisor_target_scrape_duration_seconds{{{SEL}}}",
                    "{{target}} ({{kind}})",
                )
            ],
            unit="s",
        ),
        graph(
            13,
            "Collection errors",
            "Failed or timed-out collections per target over the rate interval (increase of"
            " hypervisor_target_collection_errors_total). The exporter's log says why.",
            [
                query(
                    f"increase(hypervisor_target_collection_errors_total{{{SEL}}}"
                    "[$__rate_interval])",
                    "{{target}} ({{kind}})",
                )
            ],
            unit="short",
        ),
    ]
    return board(
        "fleet",
        "Every hypervisor-exporter target at a glance: VMs that failed to autostart first,"
        " then hosts, storage and the exporter itself. Thresholds are the alerts'.",
        [
            datasource_variable(),
            # The platform filter: every kind a configured target has (vsphere, libvirt,
            # openstack, ceph, iscsi), read from the exporter's own series, so a new kind
            # appears without a change here; it narrows the targets offered below.
            query_variable(
                "kind",
                "Platform",
                "label_values(hypervisor_target_up, kind)",
                "Kinds of the configured targets (the `kind` label): the platforms.",
                multi=True,
            ),
            query_variable(
                "target",
                "Target",
                'label_values(hypervisor_target_up{kind=~"$kind"}, target)',
                "Configured exporter targets (the `target` label) of the chosen platforms.",
                multi=True,
            ),
        ],
        panels,
    )
