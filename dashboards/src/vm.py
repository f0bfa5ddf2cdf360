"""VM: one virtual machine's power and autostart state, disks and network."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models.common import BigValueColorMode, BigValueTextMode

from dashboards.src import panels as shared
from dashboards.src.common import (
    ENABLED,
    POWER_STATE,
    YES_NO,
    board,
    board_variable,
    datasource_variable,
    graph,
    host_link,
    keyed,
    power_state_colours,
    query,
    query_variable,
    row,
    row_field,
    stat_panel,
    table_panel,
    timeline,
)

SEL = 'target="$target", host="$host", vm="$vm"'


def build() -> dm.Dashboard:
    panels = [
        power_state_colours(
            stat_panel(
                1,
                "Power state",
                "The VM's current power state (hypervisor_vm_power_state). A stopped VM with"
                " autostart enabled on a connected host fires HypervisorVMAutostartFailed.",
                [query(f"hypervisor_vm_power_state{{{SEL}}} == 1", "{{state}}", instant=True)],
                w=4,
                show=BigValueTextMode.NAME,
            )
        ),
        stat_panel(
            2,
            "Autostart",
            "Whether the platform starts this VM when its host boots"
            " (hypervisor_vm_autostart_enabled).",
            [query(f"hypervisor_vm_autostart_enabled{{{SEL}}}", "autostart", instant=True)],
            mappings=ENABLED,
            w=4,
        ),
        stat_panel(
            3,
            "Autostart order and delay",
            "Position in the host's autostart sequence and the wait after starting it"
            " (hypervisor_vm_autostart_order, hypervisor_vm_autostart_delay_seconds)."
            " vSphere only.",
            [
                query(f"hypervisor_vm_autostart_order{{{SEL}}}", "order", ref="A", instant=True),
                query(
                    f"hypervisor_vm_autostart_delay_seconds{{{SEL}}}",
                    "delay",
                    ref="B",
                    instant=True,
                ),
            ],
            w=4,
            colour=BigValueColorMode.NONE,
            no_value="not on this platform",
        ).override_by_query("B", [dm.DynamicConfigValue(id_val="unit", value="s")]),
        stat_panel(
            4,
            "Guest tools",
            "Whether the guest agent answers: VMware Tools or the qemu guest agent"
            " (hypervisor_vm_guest_tools_running). No answer from a running VM whose tools"
            " are known fires HypervisorVMGuestToolsNotRunning (warning).",
            [query(f"hypervisor_vm_guest_tools_running{{{SEL}}}", "running", instant=True)],
            mappings=YES_NO,
            w=4,
            no_value="not known",
        ),
        shared.uptime(
            5,
            "hypervisor_vm_boot_timestamp_seconds",
            SEL,
            "the VM was last powered on; running VMs on vSphere only",
            w=4,
        ),
        table_panel(
            6,
            "Identity",
            "Platform, UUID, cluster and datacenter of the VM (hypervisor_vm_info), and its"
            " host: click the host for its board.",
            [query(f"hypervisor_vm_info{{{SEL}}}", table=True)],
            columns={
                "platform": "platform",
                "host": "host",
                "uuid": "uuid",
                "cluster": "cluster",
                "datacenter": "datacenter",
            },
            links={"host": host_link(board_variable("target"), row_field("host"))},
            w=4,
            h=4,
        ),
        timeline(
            7,
            "Power state history",
            "The VM's power state over time (hypervisor_vm_power_state); gaps are times the"
            " target was not collected.",
            [query(f"hypervisor_vm_power_state{{{SEL}}} == 1", "{{state}}")],
            mappings=POWER_STATE,
            h=5,
        ),
        table_panel(
            17,
            "Why it is not running: the hypervisor's record",
            "What the hypervisor itself recorded: libvirt's reason for the VM's current state"
            " (hypervisor_vm_power_state_reason; failed means libvirt tried to start it and"
            " could not, booted that it started), and the latest failed start with the"
            " platform's message and its time (hypervisor_vm_start_failure_info and"
            " _timestamp_seconds: vCenter's fault for a failed power-on or HA restart,"
            " libvirt's state and QEMU's error). A failure recorded in the last 15 minutes"
            " of a VM still not running fires HypervisorVMStartFailed (warning).",
            [
                query(
                    keyed(f"hypervisor_vm_power_state_reason{{{SEL}}}", "vm", "reason"),
                    ref="A",
                    table=True,
                ),
                # Its own column name: a second `reason` column would keep rows apart.
                query(
                    keyed(
                        f"label_join(hypervisor_vm_start_failure_info{{{SEL}}},"
                        ' "failure", "", "reason")',
                        "vm",
                        "failure",
                    ),
                    ref="B",
                    table=True,
                ),
                query(
                    keyed(f"hypervisor_vm_start_failure_timestamp_seconds{{{SEL}}} * 1000", "vm"),
                    ref="C",
                    table=True,
                ),
            ],
            columns={
                "reason": "state reason (libvirt)",
                "failure": "last failed start",
                "Value #C": "failed at",
            },
            units={"Value #C": "dateTimeAsIso"},
            no_value="Nothing recorded",
            h=4,
        ),
        row(101, "CPU and memory"),
        graph(
            12,
            "CPU usage",
            "CPU the VM used as a share of its vCPUs' capacity (hypervisor_vm_cpu_usage_ratio):"
            " libvirt over the window between two collections, vSphere from vCenter's"
            " realtime cpu.usage. Running VMs only.",
            [query(f"hypervisor_vm_cpu_usage_ratio{{{SEL}}}", "usage")],
            unit="percentunit",
            max_value=1,
        ),
        graph(
            13,
            "Memory",
            "Memory configured for the VM (hypervisor_vm_memory_bytes) and host memory"
            " backing it (hypervisor_vm_memory_used_bytes: QEMU's resident memory on libvirt,"
            " consumed memory on vSphere; absent where the platform does not tell).",
            [
                query(f"hypervisor_vm_memory_bytes{{{SEL}}}", "configured", ref="A"),
                query(f"hypervisor_vm_memory_used_bytes{{{SEL}}}", "used", ref="B"),
            ],
            unit="bytes",
        ),
        stat_panel(
            14,
            "vCPUs",
            "Virtual CPUs of the VM (hypervisor_vm_vcpus).",
            [query(f"hypervisor_vm_vcpus{{{SEL}}}", "vCPUs", instant=True)],
            w=4,
            colour=BigValueColorMode.NONE,
        ),
        row(100, "Disks and network"),
        graph(
            15,
            "Disk throughput",
            "Bytes per second read and written per virtual disk"
            " (hypervisor_vm_disk_read_bytes_per_second, _write_bytes_per_second).",
            [
                query(
                    f"hypervisor_vm_disk_read_bytes_per_second{{{SEL}}}", "{{disk}} read", ref="A"
                ),
                query(
                    f"hypervisor_vm_disk_write_bytes_per_second{{{SEL}}}",
                    "{{disk}} written",
                    ref="B",
                ),
            ],
            unit="Bps",
        ),
        graph(
            16,
            "Network throughput",
            "Bytes per second received and sent per interface"
            " (hypervisor_vm_network_receive_bytes_per_second, _transmit_bytes_per_second).",
            [
                query(
                    f"hypervisor_vm_network_receive_bytes_per_second{{{SEL}}}",
                    "{{interface}} received",
                    ref="A",
                ),
                query(
                    f"hypervisor_vm_network_transmit_bytes_per_second{{{SEL}}}",
                    "{{interface}} sent",
                    ref="B",
                ),
            ],
            unit="Bps",
        ),
        shared.disk_queue(
            8,
            [(f"hypervisor_vm_disk_queue_length{{{SEL}}}", "{{disk}}")],
            "per virtual disk (hypervisor_vm_disk_queue_length)",
        ),
        shared.packet_loss(
            9,
            [(f"hypervisor_vm_network_packet_loss_ratio{{{SEL}}}", "{{interface}}")],
            "per interface (hypervisor_vm_network_packet_loss_ratio)",
        ),
        graph(
            10,
            "Packets",
            "Packets per second received and sent per interface (rate of"
            " hypervisor_vm_network_receive_packets_total and _transmit_packets_total)."
            " Where the platform keeps raw counters (libvirt).",
            [
                query(
                    f"rate(hypervisor_vm_network_receive_packets_total{{{SEL}}}[$__rate_interval])",
                    "{{interface}} received",
                    ref="A",
                ),
                query(
                    f"rate(hypervisor_vm_network_transmit_packets_total{{{SEL}}}"
                    "[$__rate_interval])",
                    "{{interface}} sent",
                    ref="B",
                ),
            ],
            unit="pps",
        ),
        graph(
            11,
            "Dropped packets",
            "Packets per second dropped per interface and direction (rate of"
            " hypervisor_vm_network_receive_drops_total and _transmit_drops_total).",
            [
                query(
                    f"rate(hypervisor_vm_network_receive_drops_total{{{SEL}}}[$__rate_interval])",
                    "{{interface}} received",
                    ref="A",
                ),
                query(
                    f"rate(hypervisor_vm_network_transmit_drops_total{{{SEL}}}[$__rate_interval])",
                    "{{interface}} sent",
                    ref="B",
                ),
            ],
            unit="pps",
        ),
    ]
    return board(
        "vm",
        "One VM: power and autostart state, guest tools, disks and network against the alert"
        " thresholds.",
        [
            datasource_variable(),
            query_variable(
                "target",
                "Target",
                "label_values(hypervisor_vm_info, target)",
                "The exporter target (vCenter or libvirt connection) the VM belongs to.",
            ),
            query_variable(
                "host",
                "Host",
                'label_values(hypervisor_vm_info{target="$target"}, host)',
                "Hypervisor host the VM runs on.",
            ),
            query_variable(
                "vm",
                "VM",
                'label_values(hypervisor_vm_info{target="$target", host="$host"}, vm)',
                "The VM (its name; two VMs sharing a name carry the platform id in brackets).",
            ),
        ],
        panels,
    )
