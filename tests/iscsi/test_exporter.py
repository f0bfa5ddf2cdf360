"""The iSCSI collector inside the real exporter process, scraped over HTTP."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.exporter import Exporter
from harness.exposition import parse, value, values
from harness.iscsi_sysfs import (
    build_tree,
    session_dir,
    set_connection_state,
    set_session_state,
    standard_sessions,
)
from harness.process import running

LUN1 = {
    "session": "2",
    "iqn": "iqn.2003-01.org.linux-iscsi.store1:lun1",
    "portal": "192.0.2.11:3260",
}


@pytest.fixture
def trees(tmp_path: Path) -> dict[str, Path]:
    broken = build_tree(tmp_path / "broken", standard_sessions())
    (session_dir(broken, 4) / "targetname").unlink()
    return {
        "local": build_tree(tmp_path / "local", standard_sessions()),
        "no-module": build_tree(tmp_path / "no-module", [], iscsi_module=False),
        "broken": broken,
    }


@pytest.fixture
def exporter(tmp_path: Path, trees: dict[str, Path]) -> Iterator[Exporter]:
    config = {
        "targets": [
            {"name": name, "kind": "iscsi", "sysfs_root": str(root)} for name, root in trees.items()
        ]
    }
    with running(Exporter(config, tmp_path / "logs")) as peer:
        assert isinstance(peer, Exporter)
        yield peer


def test_sessions_up_and_down(exporter: Exporter) -> None:
    text = exporter.metrics()
    up = {
        labels["session"]: v
        for labels, v in parse(text)["hypervisor_iscsi_session_up"]
        if labels["target"] == "local"
    }
    assert up == {"1": 1, "2": 1, "3": 0, "4": 0, "7": 1}
    assert (
        value(text, "hypervisor_iscsi_session_info", target="local", session="4", state="FREE") == 1
    )
    assert (
        value(text, "hypervisor_iscsi_connection_up", target="local", session="3", connection="3:0")
        == 0
    )
    assert (
        value(
            text, "hypervisor_iscsi_session_recovery_timeout_seconds", target="local", session="3"
        )
        == 5
    )
    assert value(text, "hypervisor_target_up", target="local", kind="iscsi") == 1


def test_session_fails_and_recovers_between_scrapes(
    exporter: Exporter, trees: dict[str, Path]
) -> None:
    root = trees["local"]
    text = exporter.metrics("/probe?target=local")
    assert value(text, "hypervisor_iscsi_session_up", target="local", **LUN1) == 1

    # The target drops the connection: the kernel marks the connection failed and the
    # session FAILED while it tries to recover.
    set_connection_state(root, 2, "failed")
    set_session_state(root, 2, "FAILED")
    text = exporter.metrics("/probe?target=local")
    assert value(text, "hypervisor_iscsi_session_up", target="local", **LUN1) == 0
    assert (
        value(text, "hypervisor_iscsi_connection_up", target="local", session="2", connection="2:0")
        == 0
    )
    info = [
        (labels["state"], v)
        for labels, v in parse(text)["hypervisor_iscsi_session_info"]
        if labels["session"] == "2"
    ]
    assert info == [("FAILED", 1)]  # the LOGGED_IN series is gone, not left at 1

    set_session_state(root, 2, "LOGGED_IN")
    set_connection_state(root, 2, "up")
    text = exporter.metrics("/probe?target=local")
    assert value(text, "hypervisor_iscsi_session_up", target="local", **LUN1) == 1


def test_no_module_is_up_without_sessions(exporter: Exporter) -> None:
    text = exporter.metrics()
    assert value(text, "hypervisor_target_up", target="no-module", kind="iscsi") == 1
    assert values(text, "hypervisor_iscsi_session_up", target="no-module") == []


def test_broken_tree_is_down_with_the_file_named(
    exporter: Exporter, trees: dict[str, Path]
) -> None:
    text = exporter.metrics()
    assert value(text, "hypervisor_target_up", target="broken", kind="iscsi") == 0
    assert values(text, "hypervisor_iscsi_session_up", target="broken") == []
    assert value(text, "hypervisor_target_up", target="local", kind="iscsi") == 1
    missing = f"{trees['broken']}/class/iscsi_session/session4/targetname is missing"
    status, landing = exporter.get("/")
    assert status == 200 and missing in landing
    assert missing in exporter.log_tail(50)


def test_exposition_passes_promtool(exporter: Exporter) -> None:
    text = exporter.metrics("/probe?target=local")
    assert "hypervisor_iscsi_connection_up" in text
    proc = subprocess.run(
        ["promtool", "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
