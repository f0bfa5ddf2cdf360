"""The fleet's "VMs that failed to autostart" table lists exactly the VMs the alert means.

libvirt's test driver cannot enable autostart, so the lab has no such VM. Here a real
Prometheus scrapes a fixed exposition with one VM per case instead, and the committed
panel query runs against it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.process import Peer, free_port, http_ok, running, wait_until
from harness.prometheus import Prometheus
from tests.dashboards import boards

# host: (connection state, maintenance mode or None where the platform has none)
HOSTS = {
    "kvm1": ("connected", None),  # libvirt: no maintenance series at all
    "esx1": ("connected", 0),
    "esx2": ("connected", 1),  # in maintenance: its VMs are not expected to start
    "esx3": ("disconnected", 0),  # nothing known about its VMs' start
}
# (host, vm): (autostart enabled, power state)
VMS = {
    ("kvm1", "stopped-autostart"): (1, "stopped"),
    ("kvm1", "crashed-autostart"): (1, "crashed"),
    ("kvm1", "running-autostart"): (1, "running"),
    ("kvm1", "stopped-manual"): (0, "stopped"),
    ("esx1", "paused-autostart"): (1, "paused"),
    ("esx1", "suspended-manual"): (0, "suspended"),
    ("esx2", "stopped-in-maintenance"): (1, "stopped"),
    ("esx3", "stopped-on-disconnected"): (1, "stopped"),
}
FAILED = {
    ("kvm1", "stopped-autostart", "stopped"),
    ("kvm1", "crashed-autostart", "crashed"),
    ("esx1", "paused-autostart", "paused"),
}
# What the hypervisor recorded, beside each failed VM: a start failure's message first, else
# libvirt's state reason (unknown says nothing), else nothing.
START_FAILURES = {
    ("kvm1", "stopped-autostart"): "shut off (failed): Image is not in qcow2 format",
    ("kvm1", "running-autostart"): "shut off (failed)",  # failed before, runs now: no row
}
STATE_REASONS = {
    ("kvm1", "stopped-autostart"): "failed",
    ("kvm1", "crashed-autostart"): "panicked",
    ("kvm1", "running-autostart"): "booted",
    ("kvm1", "stopped-manual"): "unknown",
}
REASONS = {
    "stopped-autostart": "shut off (failed): Image is not in qcow2 format",
    "crashed-autostart": "panicked",
    "paused-autostart": "",
}
POWER_STATES = ("running", "stopped", "paused", "suspended", "crashed", "unknown")
CONNECTION_STATES = ("connected", "disconnected", "not_responding")


def exposition() -> str:
    lines = []
    for host, (connection, maintenance) in HOSTS.items():
        for state in CONNECTION_STATES:
            lines.append(
                f'hypervisor_host_connection_state{{target="t",host="{host}",state="{state}"}}'
                f" {int(state == connection)}"
            )
        if maintenance is not None:
            lines.append(
                f'hypervisor_host_maintenance_mode{{target="t",host="{host}"}} {maintenance}'
            )
    for (host, vm), (autostart, power) in VMS.items():
        labels = f'target="t",host="{host}",vm="{vm}"'
        lines.append(f"hypervisor_vm_autostart_enabled{{{labels}}} {autostart}")
        for state in POWER_STATES:
            lines.append(
                f'hypervisor_vm_power_state{{{labels},state="{state}"}} {int(state == power)}'
            )
        if (host, vm) in START_FAILURES:
            reason = START_FAILURES[host, vm]
            lines.append(f'hypervisor_vm_start_failure_info{{{labels},reason="{reason}"}} 1')
        if (host, vm) in STATE_REASONS:
            reason = STATE_REASONS[host, vm]
            lines.append(f'hypervisor_vm_power_state_reason{{{labels},reason="{reason}"}} 1')
    return "\n".join(lines) + "\n"


@pytest.mark.slow  # starts Prometheus
def test_autostart_table_lists_exactly_the_failed_vms(tmp_path: Path) -> None:
    (tmp_path / "metrics").write_text(exposition())
    port = free_port()
    server = Peer(
        f"exposition-{port}",
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        tmp_path / "logs",
        cwd=tmp_path,
    )
    with running(server):
        server.wait_ready(lambda: http_ok(f"http://127.0.0.1:{port}/metrics"), timeout=15)
        with running(Prometheus(tmp_path / "prom", [f"127.0.0.1:{port}"])) as prometheus:
            [query] = [
                q
                for q in boards.panel_queries()
                if q.file == "fleet-overview.json" and q.panel == "VMs that failed to autostart"
            ]
            expr = boards.substitute(query.expr, {"target": ".*"})

            def rows() -> set[tuple[str, str, str]]:
                return {
                    (r["metric"]["host"], r["metric"]["vm"], r["metric"]["state"])
                    for r in prometheus.query(expr)
                }

            wait_until(lambda: bool(rows()), 30, "the fixed exposition in Prometheus")
            assert rows() == FAILED
            reasons = {
                r["metric"]["vm"]: r["metric"].get("reason", "") for r in prometheus.query(expr)
            }
            assert reasons == REASONS
