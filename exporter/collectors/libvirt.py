"""libvirt/KVM: domains, node stats and storage pools through libvirt's bulk APIs.

One blocking function reads a `Snapshot` of plain data (three bulk calls plus one per
storage pool and one XML read per running domain for the guest agent); a pure function
turns two consecutive snapshots into samples. `getAllDomainStats` runs with NOWAIT so a
domain whose QEMU monitor hangs is reported without its stats instead of blocking the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from exporter import families as fam
from exporter.blocking import Lane
from exporter.collectors import libvirt_reasons as reasons
from exporter.collectors import start_failures
from exporter.collectors.kept import KeptConnection
from exporter.collectors.start_failures import StartFailures
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


@dataclass
class Domain:
    name: str
    uuid: str
    state: int
    autostart: bool
    stats: dict[str, Any]
    guest_agent_connected: bool | None = None
    reason: int = 0  # state.reason: virDomain<State>Reason
    # QEMU's log (local connections): the last failed stop, when that is how it last stopped.
    log_failure_at: float | None = None
    log_failure_message: str | None = None


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
    # Local connections only: this machine's block devices (weighted ms in queue) and NICs.
    host_disk_queue_ms: dict[str, int] | None = None
    host_nic_counters: dict[str, dict[str, int]] | None = None
    wall_time: float = 0.0  # Unix seconds
    # UUID -> (Unix time, what it says) of the last crash or failed-stop lifecycle event.
    failure_events: dict[str, tuple[float, str]] = field(default_factory=dict)

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
    if GUEST_AGENT_CHANNEL not in xml:
        return None  # most domains: skip parsing the whole XML
    for target in ET.fromstring(xml).iterfind("./devices/channel/target"):
        if target.get("name") == GUEST_AGENT_CHANNEL:
            state = target.get("state")
            return None if state is None else state == "connected"
    return None


def is_local_uri(uri: str) -> bool:
    """A connection to this machine's own hypervisor (its /proc describes the host)."""
    parts = urlsplit(uri)
    driver, _, transport = parts.scheme.partition("+")
    return not parts.netloc and driver != "test" and transport in ("", "unix")


def host_boot_time(proc_stat: str = "/proc/stat") -> float | None:
    with contextlib.suppress(OSError), open(proc_stat, encoding="ascii") as stat:
        for line in stat:
            if line.startswith("btime "):
                return float(line.split()[1])
    return None


def read_disk_queue_ms(
    diskstats: str = "/proc/diskstats", sys_block: str = "/sys/block"
) -> dict[str, int]:
    """Weighted milliseconds spent in queue per whole disk (field 11 of /proc/diskstats);
    loop, ram and zram devices and partitions are left out."""
    disks = set(os.listdir(sys_block)) if os.path.isdir(sys_block) else set()
    out: dict[str, int] = {}
    with open(diskstats, encoding="ascii") as stats:
        for line in stats:
            fields = line.split()
            name = fields[2]
            if len(fields) < 14 or name not in disks or name.startswith(("loop", "ram", "zram")):
                continue
            out[name] = int(fields[13])
    return out


def read_nic_counters(net_dev: str = "/proc/net/dev") -> dict[str, dict[str, int]]:
    """Packets and drops per interface from /proc/net/dev (loopback left out)."""
    out: dict[str, dict[str, int]] = {}
    with open(net_dev, encoding="ascii") as dev:
        for line in dev.readlines()[2:]:
            name, _, numbers = line.partition(":")
            values = numbers.split()
            if name.strip() == "lo" or len(values) < 12:
                continue
            out[name.strip()] = {
                "rx.pkts": int(values[1]),
                "rx.drop": int(values[3]),
                "tx.pkts": int(values[9]),
                "tx.drop": int(values[11]),
            }
    return out


@dataclass
class Host:
    """A connection and the facts about its host that do not change while it is open.

    Read once at connect: virConnectGetVersion can wait behind libvirtd's work on a hung
    VM, and asking it every scrape would let that VM block the whole host.
    """

    conn: Any
    hostname: str
    hypervisor: str  # e.g. "QEMU 7.2.0"
    # Filled by libvirt's event thread: see `failure_event`.
    failure_events: dict[str, tuple[float, str]] = field(default_factory=dict)
    events_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def connect(cls, conn: Any) -> Host:
        import libvirt

        try:
            version = conn.getVersion()
        except libvirt.libvirtError as err:
            if err.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
                raise
            version = 0
        host = cls(conn, conn.getHostname(), f"{conn.getType()} {_version_string(version)}")
        with contextlib.suppress(libvirt.libvirtError):  # a driver without events: polling
            conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, _lifecycle_event, host
            )
        return host

    def failure_event(self, uuid: str, event: int, detail: int) -> None:
        said = reasons.FAILURE_EVENTS.get((event, detail))
        if said is not None:
            with self.events_lock:
                self.failure_events[uuid] = (time.time(), said)


def _lifecycle_event(_conn: Any, dom: Any, event: int, detail: int, host: Host) -> None:
    """Runs in libvirt's event thread; must not block it."""
    with contextlib.suppress(Exception):
        host.failure_event(dom.UUIDString(), event, detail)


def read_snapshot(host: Host, local: bool, qemu_logs: Path | None = None) -> Snapshot:
    """Reads everything one collection needs. Blocking: runs in the target's lane."""
    import libvirt

    conn = host.conn

    def optional(call: Any, *args: Any) -> Any:
        # Drivers differ in what they implement (the test driver has no memory stats).
        try:
            return call(*args)
        except libvirt.libvirtError as err:
            if err.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
                return None
            raise

    taken_at = time.monotonic()
    wall_time = time.time()
    with host.events_lock:
        failure_events = dict(host.failure_events)
    autostart = {
        d.UUIDString() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_AUTOSTART)
    }
    flags = (
        libvirt.VIR_DOMAIN_STATS_STATE
        | libvirt.VIR_DOMAIN_STATS_BLOCK
        | libvirt.VIR_DOMAIN_STATS_INTERFACE
    )
    domains = []
    for dom, stats in conn.getAllDomainStats(
        flags, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT
    ):
        uuid = dom.UUIDString()
        domain = Domain(
            dom.name(),
            uuid,
            int(stats.get("state.state", 0)),
            uuid in autostart,
            {k: v for k, v in stats.items() if not k.startswith("state.")},
            reason=int(stats.get("state.reason", 0)),
        )
        if qemu_logs is not None and reasons.is_failure(domain.state, domain.reason):
            logged = reasons.read_qemu_log(qemu_logs, domain.name)
            if logged is not None:
                domain.log_failure_at, _, domain.log_failure_message = logged
        if domain.state in RUNNING_STATES:
            with contextlib.suppress(libvirt.libvirtError, ET.ParseError):
                domain.guest_agent_connected = _guest_agent_state(dom.XMLDesc(0))
        domains.append(domain)
    pools = []
    for pool in conn.listAllStoragePools():
        state, capacity, allocation, available = pool.info()
        pools.append(Pool(pool.name(), state, capacity, allocation, available))
    memory = optional(conn.getMemoryStats, libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0)
    return Snapshot(
        taken_at=taken_at,
        hostname=host.hostname,
        hypervisor=host.hypervisor,
        domains=domains,
        pools=pools,
        cpu_times=optional(conn.getCPUStats, libvirt.VIR_NODE_CPU_STATS_ALL_CPUS, 0),
        memory_kib=memory,
        boot_time=host_boot_time() if local else None,
        host_disk_queue_ms=read_disk_queue_ms() if local else None,
        host_nic_counters=read_nic_counters() if local else None,
        wall_time=wall_time,
        failure_events=failure_events,
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


def snapshot_samples(
    target: str,
    current: Snapshot,
    previous: Snapshot | None,
    failures: StartFailures[str] | None = None,
) -> SampleSet:
    """Samples for one snapshot; window families need the previous one of the same target,
    start failures the target's record of them (`observe_failures`)."""
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
        deltas: dict[str, float] = {
            k: current.cpu_times[k] - previous.cpu_times.get(k, 0)
            for k in ("user", "kernel", "idle", "iowait")
            if k in current.cpu_times
        }
        if all(v >= 0 for v in deltas.values()):
            ratio = idle_ratio(deltas)
            if ratio is not None:
                out.add(fam.HOST_CPU_IDLE_RATIO, ratio, target=target, host=host)

    if previous and wall > 0:
        _host_windows(out, target, host, current, previous, wall)

    for dom in current.domains:
        labels = {"target": target, "host": host, "vm": dom.name}
        out.add(
            fam.VM_INFO, 1, **labels, platform="libvirt", uuid=dom.uuid, cluster="", datacenter=""
        )
        out.add_state(fam.VM_POWER_STATE, POWER_STATES.get(dom.state, "unknown"), **labels)
        out.add(
            fam.VM_POWER_STATE_REASON,
            1,
            **labels,
            reason=reasons.reason_name(dom.state, dom.reason),
        )
        if failures is not None:
            start_failures.add_samples(out, failures.get(dom.uuid), **labels)
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
            ratio = _packet_loss(prev, counters)
            if ratio is not None:
                out.add(fam.VM_PACKET_LOSS_RATIO, ratio, **labels, interface=iface)
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


def observe_failures(
    failures: StartFailures[str], current: Snapshot, previous: Snapshot | None
) -> None:
    """Records the failed starts and crashes `current` shows and forgets expired ones."""
    before = {d.uuid: (d.state, d.reason) for d in previous.domains} if previous else None
    reasons.observe(
        failures, list(current.domains), before, current.failure_events, current.wall_time
    )
    failures.expire(current.wall_time)


def _packet_loss(old: Mapping[str, float], new: Mapping[str, float]) -> float | None:
    """Loss ratio over a window from rx/tx packet and drop counters; None after a reset."""
    moved = [
        counter_delta(new.get(k, 0), old.get(k, 0))
        for k in ("rx.pkts", "tx.pkts", "rx.drop", "tx.drop")
    ]
    if None in moved:
        return None
    rx, tx, rx_drop, tx_drop = (float(m or 0) for m in moved)
    return packet_loss_ratio(rx + tx, rx_drop + tx_drop)


def _host_windows(
    out: SampleSet, target: str, host: str, current: Snapshot, previous: Snapshot, wall: float
) -> None:
    """Disk queue and packet loss of this machine's own devices (local connections)."""
    if current.host_disk_queue_ms and previous.host_disk_queue_ms:
        for device, weighted_ms in current.host_disk_queue_ms.items():
            before = previous.host_disk_queue_ms.get(device)
            busy = counter_delta(weighted_ms, before) if before is not None else None
            length = queue_length(busy / 1000, wall) if busy is not None else None
            if length is not None:
                out.add(fam.HOST_DISK_QUEUE_LENGTH, length, target=target, host=host, device=device)
    if current.host_nic_counters and previous.host_nic_counters:
        for nic, counters in current.host_nic_counters.items():
            old = previous.host_nic_counters.get(nic)
            ratio = _packet_loss(old, counters) if old is not None else None
            if ratio is not None:
                out.add(fam.HOST_PACKET_LOSS_RATIO, ratio, target=target, host=host, interface=nic)


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


def open_connection(uri: str) -> Any:
    """A read-only connection: the exporter never changes anything."""
    import libvirt

    _start_libvirt_event_loop()
    conn = libvirt.openReadOnly(uri)
    with contextlib.suppress(libvirt.libvirtError):
        conn.setKeepAlive(5, 3)  # not every driver supports keepalive
    return conn


class LibvirtCollector:
    def __init__(
        self, target: LibvirtTarget, lane: Lane, connect: Callable[[str], Any] = open_connection
    ) -> None:
        self.target = target
        self.lane = lane
        self.local = is_local_uri(target.uri)
        self.connection: KeptConnection[Host] = KeptConnection(
            lambda: Host.connect(connect(target.uri)), lambda host: host.conn.close()
        )
        self._previous: Snapshot | None = None
        self.failures: StartFailures[str] = StartFailures()
        self.qemu_logs = reasons.qemu_log_dir(target.uri)

    def _read(self) -> Snapshot:
        return self.connection.use(lambda host: read_snapshot(host, self.local, self.qemu_logs))

    async def collect(self) -> SampleSet:
        try:
            snapshot = await self.lane.run(self._read)
        except Exception as err:
            raise RuntimeError(f"libvirt {self.target.uri}: {_clean_error(err)}") from err
        observe_failures(self.failures, snapshot, self._previous)
        samples = snapshot_samples(self.target.name, snapshot, self._previous, self.failures)
        self._previous = snapshot
        return samples

    async def close(self) -> None:
        await asyncio.wait_for(self.lane.run(self.connection.close), 5)


def _clean_error(err: Exception) -> str:
    return re.sub(r"\s+", " ", str(err)).strip() or type(err).__name__


def create(target: TargetConfig, lane: Lane) -> LibvirtCollector:
    assert isinstance(target, LibvirtTarget)
    return LibvirtCollector(target, lane)
