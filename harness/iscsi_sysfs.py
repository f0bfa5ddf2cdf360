"""Builds directory trees shaped like the kernel's iSCSI sysfs, for tests and benchmarks.

The layout follows what scsi_transport_iscsi and iscsi_tcp register for a software
initiator session (one SCSI host per session, parented on the platform bus):

    devices/platform/hostH/
        iscsi_host/hostH/{initiatorname,ipaddress,hwaddress,netdev,port_state,port_speed}
        scsi_host/hostH/{proc_name,state,unique_id,...}
        sessionS/
            iscsi_session/sessionS/{state,targetname,tpgt,recovery_tmo,...}
            connectionS:C/iscsi_connection/connectionS:C/{state,persistent_address,...}
            targetH:0:0/H:0:0:L/{state,block/sdX}
    class/iscsi_session/sessionS -> ../../devices/platform/hostH/sessionS/iscsi_session/sessionS
    class/iscsi_connection/connectionS:C
        -> ../../devices/platform/hostH/sessionS/connectionS:C/iscsi_connection/connectionS:C
    class/iscsi_host/hostH, class/scsi_host/hostH, class/iscsi_transport/tcp,
    module/scsi_transport_iscsi/version, bus/scsi/devices/H:0:0:L

Symlinks are relative, as the kernel's are, so a tree bind-mounted over /sys resolves
inside itself: that is how the real `iscsiadm -m session -P 3` is made to render it.
Attribute files end in a newline like sysfs show() output.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

INITIATOR = "iqn.1993-08.org.debian:01:5e1f0c2a9b7d"
TRANSPORT_VERSION = "2.0-870"
# `creator` is the pid of the iscsid that made the session; -1 marks a session the HBA's
# firmware made (iscsiadm prints those as "flash" node sessions).
ISCSID_PID = 812


@dataclass
class Connection:
    cid: int = 0
    # "up", "down", "failed" or "bound"; None leaves the file out, as kernels before 5.7
    # (which did not export a connection's state) do.
    state: str | None = "up"
    address: str = "192.0.2.10"
    port: int = 3260


@dataclass
class Session:
    sid: int
    targetname: str
    state: str = "LOGGED_IN"  # LOGGED_IN, FAILED or FREE
    host: int | None = None  # SCSI host number; default sid + 2
    tpgt: int = 1
    recovery_tmo: int = 120
    connections: list[Connection] = field(default_factory=lambda: [Connection()])
    luns: int = 1  # SCSI disks attached through the session

    @property
    def host_no(self) -> int:
        return self.sid + 2 if self.host is None else self.host


def _write(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{value}\n")


def _link(link: Path, target: str) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink():
        link.unlink()
    os.symlink(target, link)


def _device(root: Path, path: Path, subsystem: str, parent: Path | None = None) -> None:
    """The entries every kernel device directory carries: a `uevent` file, a `subsystem`
    link to its class or bus and, for class devices, a `device` link to the device they
    belong to. iscsiadm follows `device` from a session to find its SCSI target."""
    path.mkdir(parents=True, exist_ok=True)
    _write(path / "uevent", "")
    up = "/".join([".."] * len(path.relative_to(root).parts))
    _link(path / "subsystem", f"{up}/{subsystem}")
    if parent is not None:
        _link(path / "device", os.path.relpath(parent, path))


def _disk_name(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return "sd" + letters


def build_tree(
    root: Path,
    sessions: Iterable[Session],
    initiator: str = INITIATOR,
    iscsi_module: bool = True,
) -> Path:
    """Writes a sysfs-shaped tree under `root` and returns it.

    With `iscsi_module=False` the tree has no iSCSI classes at all, like a host where
    scsi_transport_iscsi is not loaded.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "class").mkdir(exist_ok=True)
    (root / "devices" / "platform").mkdir(parents=True, exist_ok=True)
    if not iscsi_module:
        return root
    for cls in (
        "iscsi_session",
        "iscsi_connection",
        "iscsi_host",
        "scsi_host",
        "iscsi_transport",
        "iscsi_endpoint",
        "iscsi_iface",
        "block",
    ):
        (root / "class" / cls).mkdir(exist_ok=True)
    (root / "bus" / "scsi" / "devices").mkdir(parents=True, exist_ok=True)
    _write(root / "module" / "scsi_transport_iscsi" / "version", TRANSPORT_VERSION)
    transport = root / "devices" / "virtual" / "iscsi_transport" / "tcp"
    _device(root, transport, "class/iscsi_transport")
    _write(transport / "handle", "18446744072102519936")
    _write(transport / "caps", "0x39")
    _link(root / "class" / "iscsi_transport" / "tcp", "../../devices/virtual/iscsi_transport/tcp")
    disks = 0
    for session in sessions:
        disks = add_session(root, session, initiator, first_disk=disks)
    return root


def add_session(
    root: Path, session: Session, initiator: str = INITIATOR, first_disk: int = 0
) -> int:
    """Adds one session with its host, connections and disks; returns the next disk index."""
    h, s = session.host_no, session.sid
    host = root / "devices" / "platform" / f"host{h}"
    _device(root, host, "bus/scsi")
    _link(root / "bus" / "scsi" / "devices" / f"host{h}", f"../../../devices/platform/host{h}")
    iscsi_host = host / "iscsi_host" / f"host{h}"
    _device(root, iscsi_host, "class/iscsi_host", host)
    for name, value in (
        ("initiatorname", initiator),
        ("ipaddress", "192.0.2.1"),
        ("hwaddress", "(null)"),
        ("netdev", "(null)"),
        ("port_state", "Unknown!"),
        ("port_speed", "Unknown"),
    ):
        _write(iscsi_host / name, value)
    scsi_host = host / "scsi_host" / f"host{h}"
    _device(root, scsi_host, "class/scsi_host", host)
    for name, value in (
        ("proc_name", "iscsi_tcp"),
        ("state", "running"),
        ("unique_id", "0"),
        ("host_busy", "0"),
        ("can_queue", "1024"),
        ("cmd_per_lun", "128"),
        ("sg_tablesize", "4096"),
    ):
        _write(scsi_host / name, value)
    _link(
        root / "class" / "iscsi_host" / f"host{h}",
        f"../../devices/platform/host{h}/iscsi_host/host{h}",
    )
    _link(
        root / "class" / "scsi_host" / f"host{h}",
        f"../../devices/platform/host{h}/scsi_host/host{h}",
    )

    sdir = host / f"session{s}"
    sdir.mkdir(parents=True, exist_ok=True)
    _write(sdir / "uevent", "")  # the session device itself is on no bus or class
    attrs = sdir / "iscsi_session" / f"session{s}"
    _device(root, attrs, "class/iscsi_session", sdir)
    session_attrs: tuple[tuple[str, object], ...] = (
        ("state", session.state),
        ("targetname", session.targetname),
        ("tpgt", session.tpgt),
        ("recovery_tmo", session.recovery_tmo),
        ("abort_tmo", 15),
        ("lu_reset_tmo", 30),
        ("tgt_reset_tmo", 30),
        ("initiatorname", initiator),
        ("ifacename", "default"),
        ("username", "(null)"),
        ("username_in", "(null)"),
        ("password", "(null)"),
        ("password_in", "(null)"),
        ("creator", ISCSID_PID),
        ("target_id", 0),
        ("target_state", "SCANNED"),
        ("first_burst_len", 65536),
        ("max_burst_len", 262144),
        ("initial_r2t", 1),
        ("immediate_data", 1),
        ("max_outstanding_r2t", 1),
        ("data_pdu_in_order", 1),
        ("data_seq_in_order", 1),
        ("erl", 0),
        ("fast_abort", 1),
        ("isid", "00023d000001"),
        ("tsid", 0),
    )
    for attr, setting in session_attrs:
        _write(attrs / attr, setting)
    # The kernel shows CHAP secrets to root only.
    for secret in ("password", "password_in"):
        (attrs / secret).chmod(0o600)
    _link(
        root / "class" / "iscsi_session" / f"session{s}",
        f"../../devices/platform/host{h}/session{s}/iscsi_session/session{s}",
    )
    for conn in session.connections:
        add_connection(root, session, conn)
    # Disks stay while the session recovers (the kernel blocks them), and are gone from a
    # session that has not logged in yet.
    disk_state = {"LOGGED_IN": "running", "FAILED": "blocked"}.get(session.state)
    if disk_state is not None:
        for lun in range(session.luns):
            target = sdir / f"target{h}:0:0"
            _device(root, target, "bus/scsi")
            dev = target / f"{h}:0:0:{lun}"
            _device(root, dev, "bus/scsi")
            _write(dev / "state", disk_state)
            _write(dev / "type", 0)
            _write(dev / "vendor", "IET     ")
            _write(dev / "model", "VIRTUAL-DISK    ")
            disk = _disk_name(first_disk)
            first_disk += 1
            _device(root, dev / "block" / disk, "class/block")
            _write(dev / "block" / disk / "dev", f"8:{16 * (first_disk - 1)}")
            _link(
                root / "bus" / "scsi" / "devices" / f"{h}:0:0:{lun}",
                f"../../../devices/platform/host{h}/session{s}/target{h}:0:0/{h}:0:0:{lun}",
            )
    return first_disk


def add_connection(root: Path, session: Session, conn: Connection) -> None:
    h, s, c = session.host_no, session.sid, conn.cid
    name = f"connection{s}:{c}"
    attrs = (
        root
        / "devices"
        / "platform"
        / f"host{h}"
        / f"session{s}"
        / name
        / "iscsi_connection"
        / name
    )
    values: list[tuple[str, object]] = [
        ("persistent_address", conn.address),
        ("persistent_port", conn.port),
        ("address", conn.address),
        ("port", conn.port),
        ("max_recv_dlength", 262144),
        ("max_xmit_dlength", 262144),
        ("header_digest", "None"),
        ("data_digest", "None"),
        ("ifmarker", 0),
        ("ofmarker", 0),
        ("exp_statsn", 1),
        ("ping_tmo", 5),
        ("recv_tmo", 5),
    ]
    if conn.state is not None:
        values.append(("state", conn.state))
    cdev = attrs.parent.parent
    cdev.mkdir(parents=True, exist_ok=True)
    _write(cdev / "uevent", "")
    _device(root, attrs, "class/iscsi_connection", cdev)
    for key, value in values:
        _write(attrs / key, value)
    _link(
        root / "class" / "iscsi_connection" / name,
        f"../../devices/platform/host{h}/session{s}/{name}/iscsi_connection/{name}",
    )


def session_dir(root: Path, sid: int) -> Path:
    """The session's attribute directory, reached the way readers do: through class/."""
    return root / "class" / "iscsi_session" / f"session{sid}"


def connection_dir(root: Path, sid: int, cid: int = 0) -> Path:
    return root / "class" / "iscsi_connection" / f"connection{sid}:{cid}"


def set_session_state(root: Path, sid: int, state: str) -> None:
    """Rewrites a session's state as the kernel would on a transition (FAILED on a lost
    connection, LOGGED_IN after recovery)."""
    _replace(session_dir(root, sid) / "state", state)


def set_connection_state(root: Path, sid: int, state: str, cid: int = 0) -> None:
    _replace(connection_dir(root, sid, cid) / "state", state)


def _replace(path: Path, value: str) -> None:
    # Atomic, so a concurrent reader sees the old or the new value, never an empty file.
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(f"{value}\n")
    os.replace(tmp, path)


def remove_session(root: Path, session: Session) -> None:
    """Removes a session the way logout does: its class links and device directory."""
    for conn in session.connections:
        connection_dir(root, session.sid, conn.cid).unlink(missing_ok=True)
    session_dir(root, session.sid).unlink(missing_ok=True)
    shutil.rmtree(
        root / "devices" / "platform" / f"host{session.host_no}" / f"session{session.sid}",
        ignore_errors=True,
    )


def standard_sessions() -> Sequence[Session]:
    """The mix the tests use: LOGGED_IN, FAILED and FREE sessions, two portals, IPv6,
    several connections in several states."""
    return [
        Session(
            1,
            "iqn.2003-01.org.linux-iscsi.store1:lun0",
            "LOGGED_IN",
            connections=[Connection(0, "up", "192.0.2.10", 3260)],
            luns=2,
        ),
        Session(
            2,
            "iqn.2003-01.org.linux-iscsi.store1:lun1",
            "LOGGED_IN",
            connections=[Connection(0, "up", "192.0.2.11", 3260)],
        ),
        Session(
            3,
            "iqn.2003-01.org.linux-iscsi.store2:backup",
            "FAILED",
            recovery_tmo=5,
            connections=[Connection(0, "failed", "198.51.100.7", 3261)],
        ),
        Session(
            4,
            "iqn.2003-01.org.linux-iscsi.store2:archive",
            "FREE",
            recovery_tmo=30,
            connections=[Connection(0, "down", "198.51.100.8", 3260)],
        ),
        Session(
            7,
            "iqn.2024-05.example.v6:vol",
            "LOGGED_IN",
            host=12,
            tpgt=2,
            connections=[Connection(0, "up", "2001:db8::5", 3260)],
        ),
    ]
