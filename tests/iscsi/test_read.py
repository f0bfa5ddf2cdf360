"""Reading sysfs-shaped trees: good ones, missing modules, and broken ones."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter import families as fam
from exporter.collectors.iscsi import IscsiSysfsError, read_snapshot
from harness import iscsiadm
from harness.iscsi_sysfs import (
    Session,
    build_tree,
    connection_dir,
    remove_session,
    session_dir,
    set_session_state,
    standard_sessions,
)
from tests.iscsi.conftest import collect

T = "iscsi-local"


def test_reads_what_the_tree_holds(tree: Path) -> None:
    snapshot = read_snapshot(str(tree))
    assert sorted(snapshot.sessions) == ["session1", "session2", "session3", "session4", "session7"]
    assert snapshot.sessions["session3"] == {
        "state": "FAILED",
        "targetname": "iqn.2003-01.org.linux-iscsi.store2:backup",
        "recovery_tmo": "5",
    }
    assert snapshot.connections["connection7:0"] == {
        "state": "up",
        "persistent_address": "2001:db8::5",
        "persistent_port": "3260",
    }


def test_no_iscsi_module_is_zero_sessions(tmp_path: Path) -> None:
    root = build_tree(tmp_path / "sys", [], iscsi_module=False)
    assert len(collect(root)) == 0


def test_module_loaded_without_sessions(tmp_path: Path) -> None:
    assert len(collect(build_tree(tmp_path / "sys", []))) == 0


def test_a_directory_that_is_not_sysfs_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(
        IscsiSysfsError, match=f"{tmp_path} is not a sysfs tree: {tmp_path}/class does not exist"
    ):
        read_snapshot(str(tmp_path))


def test_missing_required_attribute(tree: Path) -> None:
    (session_dir(tree, 3) / "state").unlink()
    with pytest.raises(
        IscsiSysfsError, match=f"^{tree}/class/iscsi_session/session3/state is missing$"
    ):
        collect(tree)


@pytest.mark.slow  # runs the real iscsiadm
def test_driver_without_persistent_portal(tree: Path) -> None:
    """Some offload drivers export only the current address and port: iscsiadm and the
    collector both fall back to them; a current address that cannot be read (iscsi_tcp
    answers ENOTCONN while the connection is down) leaves the portal empty."""
    for attr in ("persistent_address", "persistent_port"):
        (connection_dir(tree, 2) / attr).unlink()
        (connection_dir(tree, 4) / attr).unlink()
    (connection_dir(tree, 2) / "address").write_text("192.0.2.111\n")
    address = connection_dir(tree, 4) / "address"
    address.unlink()
    address.mkdir()  # unreadable, like ENOTCONN
    samples = collect(tree)
    portals = {key[1]: key[3] for key in samples.series[fam.ISCSI_SESSION_UP]}
    assert (portals["2"], portals["4"]) == ("192.0.2.111:3260", "")
    (connection_dir(tree, 4) / "address").rmdir()
    _, rendered = iscsiadm.session_tree(tree)
    assert rendered[2].persistent_portal == "192.0.2.111:3260"


def test_attribute_that_cannot_be_read(tree: Path) -> None:
    state = session_dir(tree, 2) / "state"
    state.unlink()
    state.mkdir()  # read() fails with EISDIR, as a kernel attribute's show() can fail
    with pytest.raises(
        IscsiSysfsError,
        match=f"cannot read {tree}/class/iscsi_session/session2/state: Is a directory",
    ):
        collect(tree)


def test_attribute_that_cannot_be_opened(tree: Path) -> None:
    name = connection_dir(tree, 1) / "persistent_address"
    name.unlink()
    os.symlink(name.name, name)  # a loop: open() fails with ELOOP
    with pytest.raises(IscsiSysfsError, match="connection1:0/persistent_address: Too many levels"):
        collect(tree)


def test_malformed_number(tree: Path) -> None:
    (session_dir(tree, 1) / "recovery_tmo").write_text("12O\n")
    with pytest.raises(
        IscsiSysfsError, match="session1/recovery_tmo: expected an integer, got '12O'"
    ):
        collect(tree)


def test_session_logged_out_while_reading_is_skipped(tree: Path) -> None:
    # What a read racing the kernel's teardown sees: the class link still listed, its
    # device directory gone.
    shutil.rmtree(tree / "devices" / "platform" / "host4" / "session2")
    samples = collect(tree)
    sessions = {key[1] for key in samples.series[fam.ISCSI_SESSION_UP]}
    assert sessions == {"1", "3", "4", "7"}
    assert all(key[1] != "2" for key in samples.series[fam.ISCSI_CONNECTION_UP])


def test_sessions_come_and_go(tree: Path) -> None:
    sessions = {s.sid: s for s in standard_sessions()}
    remove_session(tree, sessions[1])
    set_session_state(tree, 3, "LOGGED_IN")
    samples = collect(tree)
    assert {key[1] for key in samples.series[fam.ISCSI_SESSION_UP]} == {"2", "3", "4", "7"}
    assert (
        samples.value(
            fam.ISCSI_SESSION_UP,
            target=T,
            session="3",
            iqn="iqn.2003-01.org.linux-iscsi.store2:backup",
            portal="198.51.100.7:3261",
        )
        == 1
    )


def test_null_string_is_empty(tmp_path: Path) -> None:
    # The kernel shows "(null)" for a string it has not been given yet.
    root = build_tree(tmp_path / "sys", [Session(5, "(null)", "FREE")])
    samples = collect(root)
    assert (
        samples.value(
            fam.ISCSI_SESSION_INFO,
            target=T,
            session="5",
            iqn="",
            portal="192.0.2.10:3260",
            state="FREE",
        )
        == 1
    )


# --- As an unprivileged user, as the exporter should run ----------------------------------


@pytest.fixture
def shared_tree() -> Iterator[Path]:
    """A standard tree where user nobody can reach it (pytest's tmp_path is root-only)."""
    base = Path(tempfile.mkdtemp(prefix="iscsi-sysfs-"))
    try:
        base.chmod(0o755)
        yield build_tree(base / "sys", standard_sessions())
    finally:
        shutil.rmtree(base)


def _collect_as_nobody(root: Path) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys\n"
        "from exporter.collectors.iscsi import read_snapshot, snapshot_samples\n"
        "from exporter.metrics import render\n"
        "print(render([snapshot_samples('t', read_snapshot(sys.argv[1]))]))\n"
    )
    return subprocess.run(
        [
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            sys.executable,
            "-c",
            code,
            str(root),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
    )


def test_unprivileged_reader_never_needs_root_only_files(shared_tree: Path) -> None:
    # CHAP passwords are root-only in the kernel (and in the fixture); nothing we read is.
    assert (session_dir(shared_tree, 1) / "password").stat().st_mode & 0o077 == 0
    proc = _collect_as_nobody(shared_tree)
    assert proc.returncode == 0, proc.stderr
    assert 'hypervisor_iscsi_session_up{target="t",session="3"' in proc.stdout


def test_unprivileged_reader_names_the_file_it_may_not_read(shared_tree: Path) -> None:
    (session_dir(shared_tree, 4) / "state").chmod(0o600)
    proc = _collect_as_nobody(shared_tree)
    assert proc.returncode != 0
    assert (
        f"IscsiSysfsError: cannot read {shared_tree}/class/iscsi_session/session4/state:"
        " Permission denied"
    ) in proc.stderr
