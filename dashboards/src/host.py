"""Host: one hypervisor host's load and the state of its VMs."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import DatasourceVariable, QueryVariable
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models.common import BigValueColorMode, BigValueTextMode

from dashboards.src import panels as shared
from dashboards.src.common import (
    ENABLED,
    POWER_STATE,
    YES_NO,
    board,
    board_variable,
    connection_state_colours,
    datasource_variable,
    graph,
    keyed,
    query,
    query_variable,
    row,
    row_field,
    stat_panel,
    table_panel,
    value_mappings,
    vm_link,
)
from dashboards.src.thresholds import COLOURS

SEL = 'target="$target", host="$host"'
VM = ("target", "host", "vm")

MAINTENANCE = value_mappings({"0": ("no", COLOURS["ok"]), "1": ("in maintenance", COLOURS["info"])})


def variables() -> list[DatasourceVariable | QueryVariable]:
    return [
        datasource_variable(),
        query_variable(
            "target",
            "Target",
            "label_values(hypervisor_host_info, target)",
            "The exporter target (vCenter or libvirt connection) the host belongs to.",
        ),
        query_variable(
            "host",
            "Host",
            'label_values(hypervisor_host_info{target="$target"}, host)',
            "Hypervisor host of the selected target.",
        ),
    ]


def build() -> dm.Dashboard:
    panels = [
        connection_state_colours(
            stat_panel(
                1,
                "Connection",
                "The host's connection state (hypervisor_host_connection_state): anything but"
                " connected fires HypervisorHostDisconnected (critical).",
                [
                    query(
                        f"hypervisor_host_connection_state{{{SEL}}} == 1",
                        "{{state}}",
                        instant=True,
                    )
                ],
                w=4,
                show=BigValueTextMode.NAME,
            )
        ),
        stat_panel(
            2,
            "Maintenance mode",
            "Whether the host is in maintenance mode (hypervisor_host_maintenance_mode)."
            " VMs of a host in maintenance are not expected to autostart. libvirt has no"
            " maintenance mode.",
            [query(f"hypervisor_host_maintenance_mode{{{SEL}}}", "maintenance", instant=True)],
            mappings=MAINTENANCE,
            w=4,
            no_value="not reported",
        ),
        shared.uptime(3, "hypervisor_host_boot_timestamp_seconds", SEL, "the host booted", w=4),
        stat_panel(
            4,
            "Memory",
            "Physical memory of the host (hypervisor_host_memory_bytes).",
            [query(f"hypervisor_host_memory_bytes{{{SEL}}}", "memory", instant=True)],
            unit="bytes",
            w=4,
            no_value="not reported",
            colour=BigValueColorMode.NONE,
        ),
        stat_panel(
            5,
            "Hypervisor",
            "Platform, hypervisor version and cluster of the host (hypervisor_host_info).",
            [
                query(
                    f"hypervisor_host_info{{{SEL}}}",
                    "{{platform}} {{version}} {{cluster}}",
                    instant=True,
                )
            ],
            w=8,
            colour=BigValueColorMode.NONE,
            show=BigValueTextMode.NAME,
        ),
        row(100, "Load"),
        shared.cpu_idle(6, SEL, "idle"),
        shared.memory_usage(7, SEL, "used"),
        shared.disk_queue(
            8,
            [(f"hypervisor_host_disk_queue_length{{{SEL}}}", "{{device}}")],
            "per host storage device (hypervisor_host_disk_queue_length)",
        ),
        shared.packet_loss(
            9,
            [(f"hypervisor_host_network_packet_loss_ratio{{{SEL}}}", "{{interface}}")],
            "per host interface (hypervisor_host_network_packet_loss_ratio)",
        ),
        row(101, "VMs"),
        table_panel(
            10,
            "VMs on this host",
            "Every VM on the host with its power state and autostart settings"
            " (hypervisor_vm_power_state, hypervisor_vm_autostart_enabled, _order,"
            " _delay_seconds, hypervisor_vm_guest_tools_running), and the hypervisor's own"
            " record: libvirt's reason for the state (hypervisor_vm_power_state_reason:"
            " failed means libvirt tried to start it and could not) and the latest failed"
            " start with its message (hypervisor_vm_start_failure_info, vSphere and libvirt)."
            " Order and delay exist on vSphere only; guest tools only where known. Click a"
            " VM for its board.",
            [
                query(
                    keyed(f"hypervisor_vm_power_state{{{SEL}}} == 1", *VM, "state"),
                    ref="A",
                    table=True,
                ),
                query(keyed(f"hypervisor_vm_autostart_enabled{{{SEL}}}", *VM), ref="B", table=True),
                query(keyed(f"hypervisor_vm_autostart_order{{{SEL}}}", *VM), ref="C", table=True),
                query(
                    keyed(f"hypervisor_vm_autostart_delay_seconds{{{SEL}}}", *VM),
                    ref="D",
                    table=True,
                ),
                query(
                    keyed(f"hypervisor_vm_guest_tools_running{{{SEL}}}", *VM), ref="E", table=True
                ),
                query(
                    keyed(f"hypervisor_vm_power_state_reason{{{SEL}}}", *VM, "reason"),
                    ref="F",
                    table=True,
                ),
                # Its own column name: a second `reason` column would keep rows apart.
                query(
                    keyed(
                        f"label_join(hypervisor_vm_start_failure_info{{{SEL}}},"
                        ' "failure", "", "reason")',
                        *VM,
                        "failure",
                    ),
                    ref="G",
                    table=True,
                ),
            ],
            columns={
                "vm": "vm",
                "state": "power state",
                "Value #B": "autostart",
                "Value #C": "autostart order",
                "Value #D": "autostart delay",
                "Value #E": "guest tools running",
                "reason": "state reason",
                "failure": "last failed start",
            },
            mappings={"state": POWER_STATE, "Value #B": ENABLED, "Value #E": YES_NO},
            units={"Value #D": "s"},
            # The table shows only the VM column; target and host are this board's.
            links={
                "vm": vm_link(board_variable("target"), board_variable("host"), row_field("vm"))
            },
            sort_by="vm",
            h=10,
        ),
        shared.vms_by_power_state(11, SEL, w=24, scope="the host's"),
        row(102, "Capacity"),
        stat_panel(
            12,
            "CPUs",
            "Logical CPUs of the host (hypervisor_host_cpus) and its CPU capacity, clock x"
            " physical cores (hypervisor_host_cpu_capacity_hertz).",
            [
                query(f"hypervisor_host_cpus{{{SEL}}}", "logical CPUs", ref="A", instant=True),
                query(
                    f"hypervisor_host_cpu_capacity_hertz{{{SEL}}}",
                    "capacity",
                    ref="B",
                    instant=True,
                ),
            ],
            w=6,
            colour=BigValueColorMode.NONE,
        ).override_by_query("B", [dm.DynamicConfigValue(id_val="unit", value="hertz")]),
        stat_panel(
            13,
            "vCPUs per logical CPU",
            "vCPUs of all the host's VMs, running or not, per logical CPU of the host"
            " (sum of hypervisor_vm_vcpus / hypervisor_host_cpus): the CPU overcommit.",
            [
                query(
                    f"sum by (target, host) (hypervisor_vm_vcpus{{{SEL}}})"
                    f" / on (target, host) hypervisor_host_cpus{{{SEL}}}",
                    "vCPUs per CPU",
                    instant=True,
                )
            ],
            w=6,
            colour=BigValueColorMode.NONE,
        ),
        stat_panel(
            14,
            "VM memory configured",
            "Memory configured for all the host's VMs, running or not, as a share of the"
            " host's memory (sum of hypervisor_vm_memory_bytes / hypervisor_host_memory_bytes):"
            " over 100% is memory overcommit.",
            [
                query(
                    f"sum by (target, host) (hypervisor_vm_memory_bytes{{{SEL}}})"
                    f" / on (target, host) hypervisor_host_memory_bytes{{{SEL}}}",
                    "configured",
                    instant=True,
                )
            ],
            unit="percentunit",
            w=6,
            colour=BigValueColorMode.NONE,
        ),
        graph(
            15,
            "VMs by state",
            "VMs on the host in each power state over time (hypervisor_host_vms).",
            [query(f"hypervisor_host_vms{{{SEL}}}", "{{state}}")],
            w=6,
        ),
    ]
    return board(
        "host",
        "One hypervisor host: connection, CPU, memory, disks and network against the alert"
        " thresholds, and its VMs' power and autostart state.",
        variables(),
        panels,
    )
