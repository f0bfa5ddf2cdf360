"""The queries docs/iscsi.md gives, on a real Prometheus scraping the exporter."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.exporter import Exporter
from harness.iscsi_sysfs import (
    build_tree,
    set_connection_state,
    set_session_state,
    standard_sessions,
)
from harness.process import running, wait_until
from harness.prometheus import Prometheus


@pytest.mark.slow  # starts Prometheus
def test_documented_queries_follow_a_failing_session(tmp_path: Path) -> None:
    root = build_tree(tmp_path / "sys", standard_sessions())
    config = {"targets": [{"name": "iscsi-local", "kind": "iscsi", "sysfs_root": str(root)}]}
    exporter = Exporter(config, tmp_path / "logs")
    address = exporter.url.removeprefix("http://")
    with running(exporter), running(Prometheus(tmp_path / "prom", [address])) as prom:
        assert isinstance(prom, Prometheus)

        def down() -> dict[str, float]:
            return {
                r["metric"]["session"]: float(r["value"][1])
                for r in prom.query("hypervisor_iscsi_session_up == 0")
            }

        wait_until(lambda: set(down()) == {"3", "4"}, 20, "sessions 3 and 4 down")
        timeouts = {
            r["metric"]["session"]: float(r["value"][1])
            for r in prom.query(
                "hypervisor_iscsi_session_recovery_timeout_seconds"
                " and hypervisor_iscsi_session_up == 0"
            )
        }
        assert timeouts == {"3": 5, "4": 30}
        per_portal = {
            r["metric"]["portal"]: float(r["value"][1])
            for r in prom.query("sum by (target, portal) (hypervisor_iscsi_session_up)")
        }
        assert per_portal["192.0.2.10:3260"] == 1 and per_portal["198.51.100.7:3261"] == 0
        assert (
            prom.query(
                'absent(hypervisor_iscsi_session_up{target="iscsi-local",'
                ' iqn="iqn.2003-01.org.linux-iscsi.store1:lun0"})'
            )
            == []
        )

        set_connection_state(root, 2, "failed")
        set_session_state(root, 2, "FAILED")
        wait_until(lambda: set(down()) == {"2", "3", "4"}, 20, "session 2 down")
        states = prom.query('hypervisor_iscsi_session_info{session="2"} == 1')
        assert [r["metric"]["state"] for r in states] == ["FAILED"]
