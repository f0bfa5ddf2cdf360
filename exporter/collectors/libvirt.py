"""libvirt/KVM: domains, node stats and storage pools through libvirt's bulk APIs.

One blocking function reads a `Snapshot` of plain data (three bulk calls plus one per
storage pool and one XML read per running domain for the guest agent); a pure function
turns two consecutive snapshots into samples. `getAllDomainStats` runs with NOWAIT so a
domain whose QEMU monitor hangs is reported without its stats instead of blocking the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from exporter import families as fam
from exporter.blocking import Lane
from exporter.config import LibvirtTarget, TargetConfig
from exporter.derive import counter_delta, idle_ratio, packet_loss_ratio, queue_length
from exporter.metrics import SampleSet

# virDomainState -> contract power state. BLOCKED (waiting on a resource) and SHUTDOWN
# (shutting down) are still running guests.
POWER_STATES = {
    0: "unknown",  # NOSTATE
    1: "running",  # RUNNING
    2: "running",  # BLOCKED
    3: "paused",  # PAUSED
    4: "running",  # SHUTDOWN: being shut down
    5: "stopped",  # SHUTOFF
    6: "crashed",  # CRASHED
    7: "suspended",  # PMSUSPENDED
}
RUNNING_STATES = {1, 2, 4}
GUEST_AGENT_CHANNEL = "org.qemu.guest_agent.0"

# virConnectGetAllDomainStats flags, spelled out so the pure code needs no libvirt import.
STATS_STATE, STATS_INTERFACE, STATS_BLOCK = 0x1, 0x10, 0x20
STATS_NOWAIT = 1 << 29
LIST_AUTOSTART = 1 << 6
NODE_CPU_STATS_ALL_CPUS = -1
NODE_MEMORY_STATS_ALL_CELLS = -1
ERR_NO_SUPPORT = 3


@dataclass
class Domain:
    name: str
    uuid: str
    state: int
    autostart: bool
    stats: dict[str, Any]
    guest_agent_connected: bool | None = None


@dataclass
class Pool:
    name: str
    state: int  # virStoragePoolState; 2 is RUNNING
    capacity: int
    allocation: int
    available: int


@dataclass
class Snapshot:
    """What one collection read from libvirt: plain data, recordable as JSON."""

    taken_at: float  # monotonic seconds
    hostname: str
    hypervisor: str  # e.g. "QEMU 7.2.0"
    domains: list[Domain]
    pools: list[Pool] = field(default_factory=list)
    cpu_times: dict[str, int] | None = None  # ns: user, kernel, idle, iowait
    memory_kib: dict[str, int] | None = None  # total, free, buffers, cached
    boot_time: float | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        data = dict(data)
        data["domains"] = [Domain(**d) for d in data["domains"]]
        data["pools"] = [Pool(**p) for p in data.get("pools", [])]
        return cls(**data)


def _version_string(number: int) -> str:
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


def _guest_agent_state(xml: str) -> bool | None:
    """True/False from the guest agent channel's state, None without such a channel."""
    for target in ET.fromstring(xml).iterfind("./devices/channel/target"):
        if target.get("name") == GUEST_AGENT_CHANNEL:
            state = target.get("state")
            return None if state is None else state == "connected"
    return None


def is_local_uri(uri: str) -> bool:
    """A connection to this machine's own hypervisor (its /proc describes the host)."""
    parts = urlsplit(uri)
    return not parts.netloc and not parts.scheme.startswith("test") and "+" not in parts.scheme


def host_boot_time(proc_stat: str = "/proc/stat") -> float | None:
    with contextlib.suppress(OSError):
        with open(proc_stat, encoding="ascii") as stat:
            for line in stat:
                if line.startswith("btime "):
                    return float(line.split()[1])
    return None


def read_snapshot(conn: Any, local: bool) -> Snapshot:
    """Reads everything one collection needs. Blocking: runs in the target's lane."""
    import libvirt

    def optional(call: Any, *args: Any) -> Any:
        # Drivers differ in what they implement (the test driver has no memory stats).
        try:
            return call(*args)
        except libvirt.libvirtError as err:
            if err.get_error_code() == ERR_NO_SUPPORT:
                return None
            raise

    taken_at = time.monotonic()
    autostart = {d.UUIDString() for d in conn.listAllDomains(LIST_AUTOSTART)}
    flags = STATS_STATE | STATS_BLOCK | STATS_INTERFACE
    domains = []
    for dom, stats in conn.getAllDomainStats(flags, STATS_NOWAIT):
        uuid = dom.UUIDString()
        domain = Domain(
            dom.name(),
            uuid,
            int(stats.get("state.state", 0)),
            uuid in autostart,
            {k: v for k, v in stats.items() if not k.startswith("state.")},
        )
        if domain.state in RUNNING_STATES:
            with contextlib.suppress(libvirt.libvirtError, ET.ParseError):
                domain.guest_agent_connected = _guest_agent_state(dom.XMLDesc(0))
        domains.append(domain)
    pools = []
    for pool in conn.listAllStoragePools():
        state, capacity, allocation, available = pool.info()
        pools.append(Pool(pool.name(), state, capacity, allocation, available))
    memory = optional(conn.getMemoryStats, NODE_MEMORY_STATS_ALL_CELLS, 0)
    hv_version = optional(conn.getVersion)
    return Snapshot(
        taken_at=taken_at,
        hostname=conn.getHostname(),
        hypervisor=f"{conn.getType()} {_version_string(hv_version or 0)}",
        domains=domains,
        pools=pools,
        cpu_times=optional(conn.getCPUStats, NODE_CPU_STATS_ALL_CPUS, 0),
        memory_kib=memory,
        boot_time=host_boot_time() if local else None,
    )


def _indexed(stats: dict[str, Any], kind: str) -> dict[str, dict[str, float]]:
    """{'block.0.name': 'vda', 'block.0.rd.times': 5} -> {'vda': {'rd.times': 5}}."""
    devices: dict[str, dict[str, float]] = {}
    for index in range(int(stats.get(f"{kind}.count", 0))):
        prefix = f"{kind}.{index}."
        name = stats.get(prefix + "name")
        if name is None:
            continue
        devices[str(name)] = {
            key[len(prefix) :]: value
            for key, value in stats.items()
            if key.startswith(prefix) and isinstance(value, int | float)
        }
    return devices


def snapshot_samples(target: str, current: Snapshot, previous: Snapshot | None) -> SampleSet:
    """Samples for one snapshot; window families need the previous one of the same target."""
    out = SampleSet()
    host = current.hostname
    out.add(
        fam.HOST_INFO,
        1,
        target=target,
        host=host,
        platform="libvirt",
        cluster="",
        version=current.hypervisor,
    )
    out.add_state(fam.HOST_CONNECTION_STATE, "connected", target=target, host=host)
    if current.boot_time is not None:
        out.add(fam.HOST_BOOT_TIMESTAMP, current.boot_time, target=target, host=host)
    mem = current.memory_kib
    if mem and mem.get("total"):
        available = mem.get("free", 0) + mem.get("buffers", 0) + mem.get("cached", 0)
        out.add(fam.HOST_MEMORY_USAGE_RATIO, 1 - available / mem["total"], target=target, host=host)
        out.add(fam.HOST_MEMORY_TOTAL, mem["total"] * 1024, target=target, host=host)

    wall = current.taken_at - previous.taken_at if previous else 0.0
    before = {d.uuid: d for d in previous.domains} if previous else {}
    if previous and previous.cpu_times and current.cpu_times:
        deltas = {
            k: current.cpu_times[k] - previous.cpu_times.get(k, 0)
            for k in ("user", "kernel", "idle", "iowait")
            if k in current.cpu_times
        }
        if all(v >= 0 for v in deltas.values()):
            ratio = idle_ratio(deltas)
            if ratio is not None:
                out.add(fam.HOST_CPU_IDLE_RATIO, ratio, target=target, host=host)

    for dom in current.domains:
        labels = {"target": target, "host": host, "vm": dom.name}
        out.add(
            fam.VM_INFO, 1, **labels, platform="libvirt", uuid=dom.uuid, cluster="", datacenter=""
        )
        out.add_state(fam.VM_POWER_STATE, POWER_STATES.get(dom.state, "unknown"), **labels)
        out.add(fam.VM_AUTOSTART_ENABLED, 1 if dom.autostart else 0, **labels)
        if dom.guest_agent_connected is not None:
            out.add(fam.VM_GUEST_TOOLS_RUNNING, 1 if dom.guest_agent_connected else 0, **labels)
        nets = _indexed(dom.stats, "net")
        for iface, counters in nets.items():
            for family, key in (
                (fam.VM_NET_RX_PACKETS, "rx.pkts"),
                (fam.VM_NET_TX_PACKETS, "tx.pkts"),
                (fam.VM_NET_RX_DROPS, "rx.drop"),
                (fam.VM_NET_TX_DROPS, "tx.drop"),
            ):
                if key in counters:
                    out.add(family, counters[key], **labels, interface=iface)
        old = before.get(dom.uuid)
        if old is None or wall <= 0:
            continue
        old_nets = _indexed(old.stats, "net")
        for iface, counters in nets.items():
            prev = old_nets.get(iface)
            if prev is None:
                continue
            moved = [
                counter_delta(counters.get(k, 0), prev.get(k, 0))
                for k in ("rx.pkts", "tx.pkts", "rx.drop", "tx.drop")
            ]
            if None not in moved:
                rx, tx, rx_drop, tx_drop = (float(m or 0) for m in moved)
                out.add(
                    fam.VM_PACKET_LOSS_RATIO,
                    packet_loss_ratio(rx + tx, rx_drop + tx_drop),
                    **labels,
                    interface=iface,
                )
        old_disks = _indexed(old.stats, "block")
        for disk, counters in _indexed(dom.stats, "block").items():
            prev = old_disks.get(disk)
            if prev is None or "rd.times" not in counters:
                continue
            busy = counter_delta(
                sum(counters.get(k, 0) for k in ("rd.times", "wr.times", "fl.times")),
                sum(prev.get(k, 0) for k in ("rd.times", "wr.times", "fl.times")),
            )
            length = queue_length(busy, wall * 1e9) if busy is not None else None
            if length is not None:
                out.add(fam.VM_DISK_QUEUE_LENGTH, length, **labels, disk=disk)

    for pool in current.pools:
        labels = {"target": target, "datastore": pool.name}
        out.add(fam.DATASTORE_CAPACITY, pool.capacity, **labels)
        out.add(fam.DATASTORE_FREE, pool.available, **labels)
        out.add(fam.DATASTORE_ACCESSIBLE, 1 if pool.state == 2 else 0, **labels)
    return out


_event_loop_lock = threading.Lock()
_event_loop_started = False


def _start_libvirt_event_loop() -> None:
    """libvirt's keepalive needs its event loop: it closes connections whose peer stopped
    answering instead of leaving calls on them hanging forever."""
    global _event_loop_started
    import libvirt

    with _event_loop_lock:
        if _event_loop_started:
            return
        libvirt.virEventRegisterDefaultImpl()
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # we report errors

        def run() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()

        threading.Thread(target=run, name="libvirt-events", daemon=True).start()
        _event_loop_started = True


class LibvirtCollector:
    def __init__(self, target: LibvirtTarget, lane: Lane) -> None:
        self.target = target
        self.lane = lane
        self.local = is_local_uri(target.uri)
        self._conn: Any = None
        self._previous: Snapshot | None = None

    def _open(self) -> Any:
        import libvirt

        _start_libvirt_event_loop()
        conn = libvirt.openReadOnly(self.target.uri)
        with contextlib.suppress(libvirt.libvirtError):
            conn.setKeepAlive(5, 3)  # not every driver supports keepalive
        return conn

    def _read(self) -> Snapshot:
        if self._conn is None:
            self._conn = self._open()
        try:
            return read_snapshot(self._conn, self.local)
        except Exception:
            # Reconnect on the next collection rather than reuse a broken connection.
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                conn.close()
            raise

    async def collect(self) -> SampleSet:
        try:
            snapshot = await self.lane.run(self._read)
        except Exception as err:
            raise RuntimeError(f"libvirt {self.target.uri}: {_clean_error(err)}") from err
        samples = snapshot_samples(self.target.name, snapshot, self._previous)
        self._previous = snapshot
        return samples

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.wait_for(self.lane.run(conn.close), 5)


def _clean_error(err: Exception) -> str:
    return re.sub(r"\s+", " ", str(err)).strip() or type(err).__name__


def create(target: TargetConfig, lane: Lane) -> LibvirtCollector:
    assert isinstance(target, LibvirtTarget)
    return LibvirtCollector(target, lane)
