"""Ceph: cluster health, health checks, OSDs and PGs from the monitors through librados.

One blocking function sends four `mon_command`s (status, health detail, osd dump, df; JSON)
over a connection kept per target; a pure function turns the replies into samples. The
runner cuts a collection at the target's timeout; librados' own timeouts are set to the
same value so that a thread stuck on a monitor that stopped answering returns by itself
and frees the target's lane instead of holding it for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from exporter import families as fam
from exporter.blocking import Lane
from exporter.collectors import Kind
from exporter.collectors.kept import KeptConnection
from exporter.collectors.library import describe, load
from exporter.derive import bounded_message
from exporter.metrics import SampleSet
from exporter.targets import Problem, TargetConfig, check_readable_file


@dataclass(frozen=True, kw_only=True)
class CephTarget(TargetConfig):
    kind: ClassVar[str] = "ceph"
    conf: str = "/etc/ceph/ceph.conf"
    user: str = "admin"
    keyring: str | None = None

    def validate(self, problem: Problem) -> None:
        super().validate(problem)
        check_readable_file(self.conf, "conf", problem)
        if self.keyring is not None:
            check_readable_file(self.keyring, "keyring", problem)
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.user):
            problem("user", f"must be a Ceph client name such as admin, got {self.user!r}")


# What one collection asks the monitors, keyed by the name the pure code uses.
COMMANDS: dict[str, dict[str, str]] = {
    "status": {"prefix": "status", "format": "json"},
    "health": {"prefix": "health", "detail": "detail", "format": "json"},
    "osd_dump": {"prefix": "osd dump", "format": "json"},
    "df": {"prefix": "df", "format": "json"},
}

# The flags an operator sets with `ceph osd set` to hold back what Ceph would do by itself
# (the ones the ceph-mgr prometheus module reports, plus pause and full): each is reported
# 0 or 1, so `hypervisor_ceph_osd_flag{flag="noout"} == 1` alerts without absent().
# Feature flags a cluster keeps for good (sortbitwise, recovery_deletes, ...) are left out;
# any other set flag is reported with 1.
OSD_FLAGS = (
    "noup",
    "nodown",
    "noout",
    "noin",
    "nobackfill",
    "norebalance",
    "norecover",
    "noscrub",
    "nodeep-scrub",
    "pauserd",
    "pausewr",
    "full",
)
FEATURE_FLAGS = frozenset(
    (
        "sortbitwise",
        "recovery_deletes",
        "purged_snapdirs",
        "pglog_hardlimit",
        "require_jewel_osds",
        "require_kraken_osds",
    )
)

HEALTH_VALUES = {"HEALTH_OK": 0, "HEALTH_WARN": 1, "HEALTH_ERR": 2}

MISSING_BINDING = (
    "librados' Python binding (import rados) is not installed: install the Debian/Ubuntu"
    " package python3-rados (python3-rados on RPM distributions too). It is not on PyPI and"
    " installs for the system Python only, so run the exporter with /usr/bin/python3 or"
    " from a venv created by /usr/bin/python3 -m venv --system-site-packages"
)


class CephDataError(ValueError):
    """A monitor reply without a field the collector needs (an unsupported Ceph release)."""


def _field(replies: Mapping[str, Any], command: str, *path: str) -> Any:
    """replies[command][path...], or a CephDataError naming the command and the key."""
    node = replies[command]
    for depth, key in enumerate(path):
        if not isinstance(node, dict) or key not in node:
            where = ".".join(path[: depth + 1])
            raise CephDataError(f"reply to '{COMMANDS[command]['prefix']}' has no {where}")
        node = node[key]
    return node


def _number(replies: Mapping[str, Any], command: str, *path: str) -> float:
    value = _field(replies, command, *path)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CephDataError(
            f"reply to '{COMMANDS[command]['prefix']}': {'.'.join(path)} is not a number: {value!r}"
        )
    return float(value)


def cluster_samples(target: str, replies: Mapping[str, Any]) -> SampleSet:
    """Samples from the decoded JSON replies to `COMMANDS` (keys status, health, osd_dump, df)."""
    out = SampleSet()
    labels = {"target": target}

    # Health: status and checks from the same reply, so they always agree.
    status = _field(replies, "health", "status")
    if status not in HEALTH_VALUES:
        raise CephDataError(f"reply to 'health': unknown status {status!r}")
    out.add(fam.CEPH_HEALTH_STATUS, HEALTH_VALUES[status], **labels)
    checks = _field(replies, "health", "checks")
    if not isinstance(checks, dict):
        raise CephDataError("reply to 'health': checks is not a mapping")
    for name, check in checks.items():
        severity = check.get("severity", "") if isinstance(check, dict) else ""
        out.add(fam.CEPH_HEALTH_CHECK, 1, **labels, check=name, severity=str(severity))
        summary = check.get("summary", {}) if isinstance(check, dict) else {}
        message = summary.get("message", "") if isinstance(summary, dict) else ""
        out.add(
            fam.CEPH_HEALTH_CHECK_INFO,
            1,
            **labels,
            check=name,
            severity=str(severity),
            summary=bounded_message(str(message)),
        )
        muted = bool(check.get("muted", False)) if isinstance(check, dict) else False
        out.add(fam.CEPH_HEALTH_CHECK_MUTED, 1 if muted else 0, **labels, check=name)

    # OSDs: totals and per-OSD series from one OSD map, so they add up.
    osds = _field(replies, "osd_dump", "osds")
    if not isinstance(osds, list):
        raise CephDataError("reply to 'osd dump': osds is not a list")
    up = in_ = 0
    for osd in osds:
        if not isinstance(osd, dict) or not isinstance(osd.get("osd"), int):
            raise CephDataError(f"reply to 'osd dump': OSD entry without an id: {osd!r}")
        name = f"osd.{osd['osd']}"
        is_up, is_in = bool(osd.get("up")), bool(osd.get("in"))
        up += is_up
        in_ += is_in
        out.add(fam.CEPH_OSD_UP, 1 if is_up else 0, **labels, osd=name)
        out.add(fam.CEPH_OSD_IN, 1 if is_in else 0, **labels, osd=name)
    out.add(fam.CEPH_OSDS, len(osds), **labels)
    out.add(fam.CEPH_OSDS_UP, up, **labels)
    out.add(fam.CEPH_OSDS_IN, in_, **labels)

    # Placement groups, capacity and monitors from the status reply.
    out.add(fam.CEPH_PGS, _number(replies, "status", "pgmap", "num_pgs"), **labels)
    by_state: dict[str, float] = {}
    for entry in _field(replies, "status", "pgmap").get("pgs_by_state", []):
        if not isinstance(entry, dict):
            raise CephDataError(f"reply to 'status': pgs_by_state entry {entry!r}")
        for state in str(entry.get("state_name", "")).split("+"):
            if state:
                by_state[state] = by_state.get(state, 0) + float(entry.get("count", 0))
    for state, count in sorted(by_state.items()):
        out.add(fam.CEPH_PGS_BY_STATE, count, **labels, state=state)
    out.add(fam.CEPH_CAPACITY, _number(replies, "status", "pgmap", "bytes_total"), **labels)
    out.add(fam.CEPH_USED, _number(replies, "status", "pgmap", "bytes_used"), **labels)
    out.add(fam.CEPH_MONITORS, _number(replies, "status", "monmap", "num_mons"), **labels)
    quorum = _field(replies, "status", "quorum_names")
    out.add(fam.CEPH_MONITORS_IN_QUORUM, len(quorum) if isinstance(quorum, list) else 0, **labels)
    out.add(fam.CEPH_INFO, 1, **labels, fsid=str(_field(replies, "status", "fsid")))

    # Objects not where they should be. The monitors' summary leaves degraded_* and
    # misplaced_* out while there are none, so a pgmap without them means 0.
    pgmap = _field(replies, "status", "pgmap")
    for family, key in (
        (fam.CEPH_OBJECTS_DEGRADED, "degraded_objects"),
        (fam.CEPH_OBJECTS_MISPLACED, "misplaced_objects"),
    ):
        value = pgmap.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CephDataError(f"reply to 'status': pgmap.{key} is not a number: {value!r}")
        out.add(family, value, **labels)

    _osd_flag_samples(out, replies, labels)
    _pool_samples(out, replies, labels)
    return out


def _osd_flag_samples(out: SampleSet, replies: Mapping[str, Any], labels: dict[str, str]) -> None:
    """OSD map flags: `flags_set` (Pacific and later) or the comma-separated `flags`."""
    dump = replies["osd_dump"]
    flags = dump.get("flags_set") if isinstance(dump, dict) else None
    if flags is None:
        text = _field(replies, "osd_dump", "flags")
        if not isinstance(text, str):
            raise CephDataError(f"reply to 'osd dump': flags is not a string: {text!r}")
        flags = [flag for flag in text.split(",") if flag]
    if not isinstance(flags, list):
        raise CephDataError(f"reply to 'osd dump': flags_set is not a list: {flags!r}")
    active = {str(flag) for flag in flags} - FEATURE_FLAGS
    for flag in sorted(active | set(OSD_FLAGS)):
        out.add(fam.CEPH_OSD_FLAG, 1 if flag in active else 0, **labels, flag=flag)


def _pool_samples(out: SampleSet, replies: Mapping[str, Any], labels: dict[str, str]) -> None:
    """Per-pool usage from `ceph df`: stored (user data, before replication), what the pool
    can still take (max_avail) and its objects, as `ceph df` prints them."""
    pools = _field(replies, "df", "pools")
    if not isinstance(pools, list):
        raise CephDataError("reply to 'df': pools is not a list")
    for pool in pools:
        if not isinstance(pool, dict) or not isinstance(pool.get("stats"), dict):
            raise CephDataError(f"reply to 'df': pool entry without stats: {pool!r}")
        name, stats = str(pool.get("name", "")), pool["stats"]
        for family, key in (
            (fam.CEPH_POOL_STORED, "stored"),
            (fam.CEPH_POOL_AVAILABLE, "max_avail"),
            (fam.CEPH_POOL_OBJECTS, "objects"),
        ):
            value = stats.get(key)
            if value is None:
                continue  # an older release without that field: absent, not zero
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise CephDataError(f"reply to 'df': pool {name} {key} is not a number: {value!r}")
            out.add(family, value, **labels, pool=name)


def import_rados() -> Any:
    """The rados module, or an error that tells on-call which package provides it."""
    return load("rados", MISSING_BINDING)


def client_timeout(target: CephTarget) -> int:
    """Seconds librados waits for the monitors before it gives up on a call.

    librados takes whole seconds only. One second under the target's timeout (at least 1):
    a call on a hung monitor then fails by itself with librados' own error, which names the
    cause, and its worker is free again by the time the runner cuts the collection.
    """
    return max(1, math.ceil(target.timeout) - 1)


class CephCollector:
    def __init__(self, target: CephTarget, lane: Lane) -> None:
        self.target = target
        self.lane = lane
        self.client: KeptConnection[Any] = KeptConnection(self._connect, _shutdown)

    def _connect(self) -> Any:
        rados = import_rados()
        seconds = str(client_timeout(self.target))
        conf = {
            # Without these a call on a hung monitor blocks forever (defaults: 0, no limit;
            # mount: 300 s) and holds the lane's only worker.
            "rados_mon_op_timeout": seconds,
            "rados_osd_op_timeout": seconds,
            "client_mount_timeout": seconds,
        }
        if self.target.keyring is not None:
            conf["keyring"] = self.target.keyring
        client = rados.Rados(conffile=self.target.conf, rados_id=self.target.user, conf=conf)
        try:
            client.connect()  # bounded by client_mount_timeout above
        except Exception as err:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise self._explain(rados, err) from err
        return client

    def _explain(self, rados: Any, err: Exception) -> Exception:
        """librados' connect errors in on-call's terms; others unchanged."""
        client = f"client.{self.target.user}"
        keyring = self.target.keyring or "the keyring setting of the conf file"
        if isinstance(err, rados.PermissionDeniedError):
            return RuntimeError(
                f"the monitors refused {client} ({err}): unknown client or a key that does"
                f" not match the one in {keyring}"
            )
        if isinstance(err, rados.ObjectNotFound):
            return RuntimeError(f"no key for {client} found in {keyring} ({err})")
        return err

    def _ask(self, client: Any, key: str) -> Any:
        command = COMMANDS[key]
        ret, out, status = client.mon_command(json.dumps(command), b"")
        if ret != 0:
            code = errno.errorcode.get(-ret, str(ret))
            raise RuntimeError(
                f"mon_command '{command['prefix']}' failed with {code}: {status or 'no message'}"
            )
        try:
            return json.loads(out)
        except ValueError as err:
            raise CephDataError(f"reply to '{command['prefix']}' is not JSON: {err}") from None

    def read(self) -> dict[str, Any]:
        """Asks the monitors every command. Blocking: runs in the target's lane."""
        return self.client.use(lambda client: {key: self._ask(client, key) for key in COMMANDS})

    async def collect(self) -> SampleSet:
        try:
            replies = await self.lane.run(self.read)
            return cluster_samples(self.target.name, replies)
        except Exception as err:
            raise RuntimeError(
                f"ceph {self.target.conf} (client.{self.target.user}): {describe(err)}"
            ) from err

    async def close(self) -> None:
        await asyncio.wait_for(self.lane.run(self.client.close), 5)


def _shutdown(client: Any) -> None:
    client.shutdown()


KIND = Kind(config=CephTarget, create=CephCollector)
