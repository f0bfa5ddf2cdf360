"""iSCSI initiator sessions and connections, from the kernel's iSCSI transport class in sysfs.

The kernel publishes every session of the open-iscsi initiator (software or offload) as
`class/iscsi_session/sessionN` and each of its connections as
`class/iscsi_connection/connectionN:C`; iscsiadm reads the same files. One blocking
function (`read_snapshot`, run in the target's lane) reads the few attributes the
metrics need into plain data; a pure function (`snapshot_samples`) turns that into
samples. No iscsiadm and no iscsid are needed at scrape time.

What counts as an error, and what does not:
- `<sysfs_root>/class` missing: the root is not a sysfs tree; the target is down.
- `class/iscsi_session` missing: scsi_transport_iscsi is not loaded, so the host has no
  sessions. That is zero sessions and the target is up (alert on `absent()` of the
  sessions you expect, not on the module).
- A session or connection whose directory disappears while it is being read was logged
  out meanwhile; it is left out of this collection.
- A required attribute (a session's `state` or `targetname`) missing from a directory
  that exists, any attribute that exists but cannot be read (permissions, I/O error), or a
  number that is not one: the target is down, with the file named in the error.
- Optional attributes, documented partial results: a connection's `state` (kernels before
  5.7 lack it: no `hypervisor_iscsi_connection_up` for it); a session's `recovery_tmo` (no
  recovery timeout series); the portal, taken from the leading connection's
  `persistent_address`/`persistent_port`, else (drivers that do not export those) its
  `address`/`port`, else empty, as it is for a session without any connection.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from exporter import families as fam
from exporter.blocking import Lane
from exporter.collectors import Kind
from exporter.metrics import SampleSet
from exporter.targets import Problem, TargetConfig


@dataclass(frozen=True, kw_only=True)
class IscsiTarget(TargetConfig):
    kind: ClassVar[str] = "iscsi"
    sysfs_root: str = "/sys"

    def validate(self, problem: Problem) -> None:
        super().validate(problem)
        if not Path(self.sysfs_root).is_dir():
            problem("sysfs_root", f"{self.sysfs_root} is not a directory")


SESSION_ATTRS = ("state", "targetname", "recovery_tmo")
CONNECTION_ATTRS = ("state", "persistent_address", "persistent_port")
# Read only when a driver does not export the persistent portal (as iscsiadm does). On
# iscsi_tcp these fail with ENOTCONN while the connection is down, so never by default.
CONNECTION_FALLBACKS = {"persistent_address": "address", "persistent_port": "port"}
LOGGED_IN = "LOGGED_IN"
CONNECTION_UP = "up"

_SESSION_NAME = re.compile(r"session(\d+)")
_CONNECTION_NAME = re.compile(r"connection(\d+):(\d+)")
# Attribute files are one short line; a page is what sysfs ever returns.
_READ_SIZE = 4096
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC
# O_PATH: a handle to walk from, needing no read permission on the directory itself.
_DIRECTORY_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC

Attributes = dict[str, str | None]  # attribute -> value, None when the file is absent


class IscsiSysfsError(Exception):
    """The sysfs tree cannot be read or does not say what the kernel writes."""


@dataclass
class Snapshot:
    """What one read of the tree found: attributes per session and per connection,
    keyed by the kernel's directory names (session2, connection2:0)."""

    root: str
    sessions: dict[str, Attributes] = field(default_factory=dict)
    connections: dict[str, Attributes] = field(default_factory=dict)


# --- Reading (blocking; runs in the target's lane) -----------------------------------------


def _read_attribute(directory: int, base: str, name: str) -> str | None:
    """One sysfs attribute of the directory open as `directory` (its path is `base`),
    without its newline; None when the file is absent.

    The kernel prints "(null)" for a string it does not have; that is an empty value.
    """
    try:
        fd = os.open(name, _OPEN_FLAGS, dir_fd=directory)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise IscsiSysfsError(f"cannot read {base}/{name}: {err.strerror}") from None
    try:
        data = os.read(fd, _READ_SIZE)
    except OSError as err:
        raise IscsiSysfsError(f"cannot read {base}/{name}: {err.strerror}") from None
    finally:
        os.close(fd)
    value = data.decode("utf-8", "replace").rstrip("\n")
    return "" if value == "(null)" else value


def _list(directory: str, pattern: re.Pattern[str]) -> list[str]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    except OSError as err:
        raise IscsiSysfsError(f"cannot list {directory}: {err.strerror}") from None
    return [name for name in names if pattern.fullmatch(name)]


def _read_objects(
    directory: str,
    pattern: re.Pattern[str],
    attributes: tuple[str, ...],
    fallbacks: dict[str, str] | None = None,
) -> dict[str, Attributes]:
    out: dict[str, Attributes] = {}
    for name in _list(directory, pattern):
        base = f"{directory}/{name}"
        # The class entry is a symlink deep into devices/: resolve it once, then open the
        # attributes relative to it.
        try:
            fd = os.open(base, _DIRECTORY_FLAGS)
        except FileNotFoundError:
            continue  # logged out since the listing
        except OSError as err:
            raise IscsiSysfsError(f"cannot open {base}: {err.strerror}") from None
        try:
            values = {attr: _read_attribute(fd, base, attr) for attr in attributes}
            for attr, alternative in (fallbacks or {}).items():
                if values.get(attr) is None:
                    try:
                        values[alternative] = _read_attribute(fd, base, alternative)
                    except IscsiSysfsError:
                        values[alternative] = None  # no portal to tell, not an error
        finally:
            os.close(fd)
        if None in values.values() and not os.path.isdir(base):
            continue  # logged out while we read it
        out[name] = values
    return out


def read_snapshot(sysfs_root: str) -> Snapshot:
    """Reads the attributes of every iSCSI session and connection under `sysfs_root`."""
    root = sysfs_root.rstrip("/") or "/"
    classes = os.path.join(root, "class")
    if not os.path.isdir(classes):
        raise IscsiSysfsError(f"{root} is not a sysfs tree: {classes} does not exist")
    return Snapshot(
        root,
        _read_objects(f"{classes}/iscsi_session", _SESSION_NAME, SESSION_ATTRS),
        _read_objects(
            f"{classes}/iscsi_connection",
            _CONNECTION_NAME,
            CONNECTION_ATTRS,
            CONNECTION_FALLBACKS,
        ),
    )


# --- Translation (pure) ---------------------------------------------------------------------


def _required(snapshot: Snapshot, kind: str, name: str, attrs: Attributes, key: str) -> str:
    value = attrs.get(key)
    if value is None:
        raise IscsiSysfsError(f"{snapshot.root}/class/{kind}/{name}/{key} is missing")
    return value


def _integer(snapshot: Snapshot, kind: str, name: str, key: str, value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise IscsiSysfsError(
            f"{snapshot.root}/class/{kind}/{name}/{key}: expected an integer, got {value!r}"
        ) from None


def portal(address: str, port: int) -> str:
    """address:port, with an IPv6 address in brackets as iscsiadm prints it."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _lead_portal(snapshot: Snapshot, name: str, attrs: Attributes) -> str:
    """The portal of a session's leading connection (N:0): its persistent address and
    port, else the current ones for drivers without persistent ones, else empty."""
    for address_key, port_key in (("persistent_address", "persistent_port"), ("address", "port")):
        address, port = attrs.get(address_key), attrs.get(port_key)
        if address is None or port is None:
            continue
        if not address:
            return ""  # "(null)": the kernel has no address for it yet
        return portal(address, _integer(snapshot, "iscsi_connection", name, port_key, port))
    return ""


def snapshot_samples(target: str, snapshot: Snapshot) -> SampleSet:
    """The iSCSI families for one target from one snapshot of its sysfs tree."""
    out = SampleSet()
    by_session: dict[str, list[tuple[int, str, Attributes]]] = {}
    for name, attrs in snapshot.connections.items():
        match = _CONNECTION_NAME.fullmatch(name)
        if match is None:
            raise IscsiSysfsError(f"unexpected connection name {name!r}")
        by_session.setdefault(match.group(1), []).append((int(match.group(2)), name, attrs))

    for name, attrs in sorted(snapshot.sessions.items(), key=lambda item: _sid(item[0])):
        sid = str(_sid(name))
        state = _required(snapshot, "iscsi_session", name, attrs, "state")
        iqn = _required(snapshot, "iscsi_session", name, attrs, "targetname")
        connections = sorted(by_session.get(sid, []))
        where = _lead_portal(snapshot, connections[0][1], connections[0][2]) if connections else ""
        labels = {"target": target, "session": sid, "iqn": iqn, "portal": where}
        out.add(fam.ISCSI_SESSION_UP, 1.0 if state == LOGGED_IN else 0.0, **labels)
        out.add(fam.ISCSI_SESSION_INFO, 1.0, state=state, **labels)
        recovery = attrs.get("recovery_tmo")
        if recovery is not None:
            seconds = _integer(snapshot, "iscsi_session", name, "recovery_tmo", recovery)
            out.add(fam.ISCSI_SESSION_RECOVERY_TIMEOUT, float(seconds), **labels)
        for cid, _, conn_attrs in connections:
            conn_state = conn_attrs.get("state")
            if conn_state is None:
                continue  # kernel before 5.7: no connection state to report
            out.add(
                fam.ISCSI_CONNECTION_UP,
                1.0 if conn_state == CONNECTION_UP else 0.0,
                target=target,
                session=sid,
                connection=f"{sid}:{cid}",
            )
    return out


def _sid(name: str) -> int:
    match = _SESSION_NAME.fullmatch(name)
    if match is None:
        raise IscsiSysfsError(f"unexpected session name {name!r}")
    return int(match.group(1))


# --- The collector ------------------------------------------------------------------------


class IscsiCollector:
    def __init__(self, target: IscsiTarget, lane: Lane) -> None:
        self.target = target
        self.lane = lane

    async def collect(self) -> SampleSet:
        snapshot = await self.lane.run(read_snapshot, self.target.sysfs_root)
        return snapshot_samples(self.target.name, snapshot)

    async def close(self) -> None:
        return None


KIND = Kind(config=IscsiTarget, create=IscsiCollector)
