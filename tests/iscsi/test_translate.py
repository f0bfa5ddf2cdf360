"""The pure translation from read attributes to samples, on recorded snapshots."""

from __future__ import annotations

import pytest

from exporter import families as fam
from exporter.collectors.iscsi import IscsiSysfsError, Snapshot, portal, snapshot_samples
from exporter.metrics import render
from harness.exposition import parse
from tests.iscsi.conftest import load_snapshot

T = "iscsi-local"


def series(snapshot: Snapshot) -> dict[str, list[tuple[dict[str, str], float]]]:
    return parse(render([snapshot_samples(T, snapshot)]))


def test_mixed_states() -> None:
    got = series(load_snapshot("mixed.json"))
    up = {
        labels["session"]: (labels["iqn"], labels["portal"], value)
        for labels, value in got["hypervisor_iscsi_session_up"]
    }
    assert up == {
        "1": ("iqn.2003-01.org.linux-iscsi.store1:lun0", "192.0.2.10:3260", 1),
        "2": ("iqn.2003-01.org.linux-iscsi.store1:lun1", "192.0.2.11:3260", 1),
        "3": ("iqn.2003-01.org.linux-iscsi.store2:backup", "198.51.100.7:3261", 0),
        "4": ("iqn.2003-01.org.linux-iscsi.store2:archive", "198.51.100.8:3260", 0),
        "7": ("iqn.2024-05.example.v6:vol", "[2001:db8::5]:3260", 1),
    }
    states = {
        labels["session"]: labels["state"]
        for labels, value in got["hypervisor_iscsi_session_info"]
        if value == 1
    }
    assert states == {
        "1": "LOGGED_IN",
        "2": "LOGGED_IN",
        "3": "FAILED",
        "4": "FREE",
        "7": "LOGGED_IN",
    }
    assert len(got["hypervisor_iscsi_session_info"]) == 5  # one series per session
    timeouts = {
        labels["session"]: value
        for labels, value in got["hypervisor_iscsi_session_recovery_timeout_seconds"]
    }
    assert timeouts == {"1": 120, "2": 120, "3": 5, "4": 30, "7": 120}
    conns = {labels["connection"]: value for labels, value in got["hypervisor_iscsi_connection_up"]}
    assert conns == {"1:0": 1, "2:0": 1, "3:0": 0, "4:0": 0, "7:0": 1}
    assert all(labels["target"] == T for samples in got.values() for labels, _ in samples)


def test_real_target_names_pass_through_unchanged() -> None:
    got = series(load_snapshot("tgt-login.json"))
    up = sorted(
        (labels["iqn"], labels["portal"], value)
        for labels, value in got["hypervisor_iscsi_session_up"]
    )
    assert up == [
        ("iqn.2026-11.test.hypervisor-exporter:disk1", "127.0.0.1:33279", 1),
        ("iqn.2026-11.test.hypervisor-exporter:disk2", "127.0.0.1:33279", 1),
    ]


def test_kernel_without_connection_state() -> None:
    """Kernels before 5.7 have no connection state: sessions are reported, connections not."""
    got = series(load_snapshot("before-5.7.json"))
    assert len(got["hypervisor_iscsi_session_up"]) == 5
    assert "hypervisor_iscsi_connection_up" not in got


def test_empty_snapshot() -> None:
    assert len(snapshot_samples(T, Snapshot("/sys"))) == 0


def test_unknown_session_state_is_not_up() -> None:
    snapshot = load_snapshot("mixed.json")
    snapshot.sessions["session1"]["state"] = "RECOVERING"  # a state a future kernel might add
    samples = snapshot_samples(T, snapshot)
    labels = {
        "target": T,
        "session": "1",
        "iqn": "iqn.2003-01.org.linux-iscsi.store1:lun0",
        "portal": "192.0.2.10:3260",
    }
    assert samples.value(fam.ISCSI_SESSION_UP, **labels) == 0
    assert samples.value(fam.ISCSI_SESSION_INFO, state="RECOVERING", **labels) == 1


def test_bound_connection_is_not_up() -> None:
    snapshot = load_snapshot("mixed.json")
    snapshot.connections["connection1:0"]["state"] = "bound"
    samples = snapshot_samples(T, snapshot)
    assert samples.value(fam.ISCSI_CONNECTION_UP, target=T, session="1", connection="1:0") == 0


def test_orphan_connection_is_left_out() -> None:
    """A connection whose session is gone (torn down mid-read) has nothing to belong to."""
    snapshot = load_snapshot("mixed.json")
    del snapshot.sessions["session2"]
    got = series(snapshot)
    assert {labels["connection"] for labels, _ in got["hypervisor_iscsi_connection_up"]} == {
        "1:0",
        "3:0",
        "4:0",
        "7:0",
    }


@pytest.mark.parametrize(
    ("kind", "name", "key", "value", "message"),
    [
        (
            "sessions",
            "session3",
            "state",
            None,
            "/sys/class/iscsi_session/session3/state is missing",
        ),
        (
            "sessions",
            "session3",
            "targetname",
            None,
            "/sys/class/iscsi_session/session3/targetname is missing",
        ),
        (
            "sessions",
            "session3",
            "recovery_tmo",
            "soon",
            "/sys/class/iscsi_session/session3/recovery_tmo: expected an integer, got 'soon'",
        ),
        (
            "connections",
            "connection3:0",
            "persistent_port",
            "",
            "/sys/class/iscsi_connection/connection3:0/persistent_port: expected an integer",
        ),
    ],
)
def test_broken_attributes_name_the_file(
    kind: str, name: str, key: str, value: str | None, message: str
) -> None:
    snapshot = load_snapshot("mixed.json")
    getattr(snapshot, kind)[name][key] = value
    with pytest.raises(IscsiSysfsError) as caught:
        snapshot_samples(T, snapshot)
    assert message in str(caught.value)


def test_portal_falls_back_to_the_current_address() -> None:
    """Drivers that do not export the persistent portal: the current one, as iscsiadm does;
    with neither, the session keeps its series with an empty portal."""
    snapshot = load_snapshot("mixed.json")
    lead = snapshot.connections["connection3:0"]
    del lead["persistent_address"], lead["persistent_port"]
    lead.update(address="198.51.100.70", port="3262")
    other = snapshot.connections["connection4:0"]
    other.update(persistent_address=None, persistent_port=None, address=None, port=None)
    got = {
        labels["session"]: labels["portal"]
        for labels, _ in series(snapshot)["hypervisor_iscsi_session_up"]
    }
    assert (got["3"], got["4"]) == ("198.51.100.70:3262", "")


def test_null_address_is_no_portal() -> None:
    snapshot = load_snapshot("mixed.json")
    snapshot.connections["connection4:0"]["persistent_address"] = ""
    got = {
        labels["session"]: labels["portal"]
        for labels, _ in series(snapshot)["hypervisor_iscsi_session_up"]
    }
    assert got["4"] == ""


def test_portal_format() -> None:
    assert portal("192.0.2.1", 3260) == "192.0.2.1:3260"
    assert portal("fe80::1", 3260) == "[fe80::1]:3260"
    assert portal("san.example", 860) == "san.example:860"
