"""The fixture trees are shaped like the kernel's: the real iscsiadm renders them.

iscsiadm (open-iscsi 2.1.8) reads sessions from /sys/class/iscsi_session, portals from the
lead connection in /sys/class/iscsi_connection, the SCSI host through the session's
device path, and disks through the session's `device` link and /sys/bus/scsi. A tree that
iscsiadm renders into the sessions we built is laid out as the kernel lays it out, and
what it prints must agree with what the collector reports for the same tree.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter import families as fam
from harness import iscsiadm
from harness.iscsi_sysfs import (
    Connection,
    Session,
    build_tree,
    connection_dir,
    standard_sessions,
)
from tests.iscsi.conftest import collect

pytestmark = pytest.mark.slow  # the real iscsiadm waits about a second per session


def test_iscsiadm_renders_the_fixture_as_the_collector_reports_it(tree: Path) -> None:
    text, rendered = iscsiadm.session_tree(tree)
    built = {s.sid: s for s in standard_sessions()}
    assert sorted(rendered) == sorted(built), text
    samples = collect(tree)
    info = samples.series[fam.ISCSI_SESSION_INFO]
    ours = {int(key[1]): key for key in info}  # (target, session, iqn, portal, state)
    assert sorted(ours) == sorted(rendered)
    for sid, seen in rendered.items():
        _, session, iqn, portal, state = ours[sid]
        # What iscsiadm prints and what we export, side by side.
        assert (seen.iqn, seen.persistent_portal, seen.session_state) == (iqn, portal, state)
        assert seen.current_portal == portal
        assert (
            samples.value(
                fam.ISCSI_SESSION_RECOVERY_TIMEOUT,
                target="iscsi-local",
                session=session,
                iqn=iqn,
                portal=portal,
            )
            == seen.recovery_timeout
        )
        up = samples.value(
            fam.ISCSI_SESSION_UP, target="iscsi-local", session=session, iqn=iqn, portal=portal
        )
        assert up == (1 if seen.session_state == "LOGGED_IN" else 0)
        # And both match what the tree was built from.
        want = built[sid]
        assert seen.iqn == want.targetname and seen.tpgt == want.tpgt
        assert seen.session_state == want.state
        assert not seen.flash  # `creator` is an iscsid pid: a software initiator session
        assert (seen.host, seen.host_state) == (want.host_no, "running")
        expected_disk_state = {"LOGGED_IN": "running", "FAILED": "blocked"}.get(want.state)
        assert sorted(seen.disks.values()) == [expected_disk_state] * (
            want.luns if expected_disk_state else 0
        )
        # The connection state line is iscsid's, not sysfs': without iscsid it is Unknown.
        assert seen.connection_state == "Unknown"
    assert rendered[7].persistent_portal == "[2001:db8::5]:3260"
    assert rendered[1].disks == {"sda": "running", "sdb": "running"}


def test_iscsiadm_and_collector_agree_on_many_sessions_and_connections(tmp_path: Path) -> None:
    # Generated sessions across three portals, a session with a second connection
    # (connection N:1, which iscsiadm ignores: it only reads N:0).
    sessions = [
        Session(
            sid,
            f"iqn.2010-10.example.gen:vol{sid}",
            ("LOGGED_IN", "FAILED", "FREE")[sid % 3],
            connections=[Connection(0, "up", f"203.0.113.{sid % 3 + 1}", 3260)],
        )
        for sid in range(10, 16)
    ]
    sessions[0].connections.append(Connection(1, "down", "203.0.113.9", 3260))
    root = build_tree(tmp_path / "sys", sessions)
    _, rendered = iscsiadm.session_tree(root)
    samples = collect(root)
    for session in sessions:
        seen = rendered[session.sid]
        portal = f"203.0.113.{session.sid % 3 + 1}:3260"
        assert (seen.iqn, seen.persistent_portal, seen.session_state) == (
            session.targetname,
            portal,
            session.state,
        )
        assert (
            samples.value(
                fam.ISCSI_SESSION_INFO,
                target="iscsi-local",
                session=str(session.sid),
                iqn=session.targetname,
                portal=portal,
                state=session.state,
            )
            == 1
        )
    assert (
        samples.value(
            fam.ISCSI_CONNECTION_UP, target="iscsi-local", session="10", connection="10:1"
        )
        == 0
    )


def test_session_without_lead_connection(tree: Path) -> None:
    """iscsiadm hides a session whose connection N:0 is gone (the kernel tears a session
    down connection first); the collector still reports the session, with no portal."""
    connection_dir(tree, 1).unlink()
    _, rendered = iscsiadm.session_tree(tree)
    assert 1 not in rendered and 2 in rendered
    samples = collect(tree)
    assert (
        samples.value(
            fam.ISCSI_SESSION_UP,
            target="iscsi-local",
            session="1",
            iqn="iqn.2003-01.org.linux-iscsi.store1:lun0",
            portal="",
        )
        == 1
    )


def test_no_iscsi_module(tmp_path: Path) -> None:
    root = build_tree(tmp_path / "sys", [], iscsi_module=False)
    proc = iscsiadm.run(root, "-m", "session")
    assert "No active sessions" in proc.stderr
    assert len(collect(root)) == 0
