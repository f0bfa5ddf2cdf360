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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from exporter import families as fam
from exporter.blocking import Lane
from exporter.collectors import Kind, start_failures
from exporter.collectors import libvirt_reasons as reasons
from exporter.collectors.kept import KeptConnection
from exporter.collectors.library import describe, load
from exporter.collectors.procfs import host_boot_time, read_disk_queue_ms, read_nic_counters
from exporter.collectors.start_failures import StartFailures
from exporter.derive import (
    counter_delta,
    idle_ratio,
    packet_loss_ratio,
    queue_length,
    rate,
    usage_ratio,
)
from exporter.metrics import SampleSet
from exporter.targets import Problem, TargetConfig


@dataclass(frozen=True, kw_only=True)
class LibvirtTarget(TargetConfig):
    kind: ClassVar[str] = "libvirt"
    uri: str = ""
    start_failure_window: float = start_failures.DEFAULT_WINDOW

    def validate(self, problem: Problem) -> None:
        super().validate(problem)
        start_failures.check_window(self.start_failure_window, problem)
        if not re.match(r"^[a-z0-9+]+://", self.uri):
            problem("uri", f"must be a libvirt URI such as qemu:///system, got {self.uri!r}")


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
ACTIVE_STATES = RUNNING_STATES | {3}  # paused: the VM's process and devices exist
GUEST_AGENT_CHANNEL = "org.qemu.guest_agent.0"
MISSING_BINDING = (
    "libvirt's Python binding (import libvirt) is not installed: pip install libvirt-python,"
    " which builds against the libvirt-dev (Debian/Ubuntu) or libvirt-devel (RPM) package"
)


def _libvirt() -> Any:
    return load("libvirt", MISSING_BINDING)


@dataclass
class Domain:
    name: str
    uuid: str
    state: int
    autostart: bool
    stats: dict[str, Any]
    guest_agent_connected: bool | None = None
    disk_sources: list[str] = field(default_factory=list)  # paths, or "pool/volume"
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
    # Running pools only: each volume's name, path and capacity (virtual size, bytes).
    volumes: list[dict[str, Any]] | None = None


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
    # virNodeGetInfo: model, memory MiB, cpus, mhz, nodes, sockets, cores, threads.
    node_info: list[Any] | None = None
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


@dataclass
class DomainXML:
    """What the collector reads from a domain's XML."""

    guest_agent_connected: bool | None  # None: no guest agent channel
    disks: list[str]  # target devices (vda)
    interfaces: list[str]  # host side devices (vnet0)
    disk_sources: list[str]  # file or block paths, "pool/volume" for pool volumes


def parse_domain_xml(xml: str) -> DomainXML:
    if "<disk" not in xml and "<interface" not in xml and GUEST_AGENT_CHANNEL not in xml:
        return DomainXML(None, [], [], [])  # nothing to read: skip parsing the whole XML
    root = ET.fromstring(xml)
    agent: bool | None = None
    for channel in root.iterfind("./devices/channel/target"):
        if channel.get("name") == GUEST_AGENT_CHANNEL:
            state = channel.get("state")
            agent = None if state is None else state == "connected"
    disks, sources = [], []
    for disk in root.iterfind("./devices/disk"):
        target = disk.find("./target")
        dev = target.get("dev") if target is not None else None
        if dev and disk.get("device", "disk") in ("disk", "lun"):
            disks.append(dev)
        source = disk.find("./source")
        if source is None:
            continue
        if source.get("pool") and source.get("volume"):
            sources.append(f"{source.get('pool')}/{source.get('volume')}")
        for attr in ("file", "dev"):
            if source.get(attr):
                sources.append(str(source.get(attr)))
    interfaces = [
        str(target.get("dev"))
        for target in root.iterfind("./devices/interface/target")
        if target.get("dev")
    ]
    return DomainXML(agent, disks, interfaces, sources)


def is_local_uri(uri: str) -> bool:
    """A connection to this machine's own hypervisor (its /proc describes the host)."""
    parts = urlsplit(uri)
    driver, _, transport = parts.scheme.partition("+")
    return not parts.netloc and driver != "test" and transport in ("", "unix")


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
        libvirt = _libvirt()

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


# Bulk stats groups the collector reads, by the prefix of their keys: those a domain has
# in any state (its configuration), and all of them while it is active. cpu.time is
# summed from the vcpu group's per-vCPU times (`_kept_stats`).
CONFIG_GROUPS = ("vcpu.", "balloon.")
BULK_GROUPS = (*CONFIG_GROUPS, "block.", "net.")


class PerDomainFallback:
    """Per-domain calls for the groups a driver's bulk stats lack, bounded per domain.

    Used only for a group the bulk reply lacks entirely for that domain (not even its
    count). QEMU's bulk stats carry the vcpu and balloon groups for every domain and the
    block and interface groups for every active one, without the monitor: with NOWAIT, a
    domain whose monitor is busy still gets its vCPU count and times (from /proc), balloon
    size, and device counts and names, only without the monitor's numbers. So on QEMU no
    per-domain call is made, and none can wait on a hung monitor (QEMU's virDomainGetInfo,
    for one, waits for the domain's job). Drivers whose bulk stats are partial (the test
    driver: state only) get virDomainGetInfo, BlockStats and InterfaceStats per domain.

    Should such a call hang, it holds the collection it runs in (cut at the target's
    timeout, like a hung bulk call) and that worker slot. The domain stays marked in
    flight until the call returns, and later collections skip its per-domain calls, in
    the lane's other slot: the hung VM costs its own series only, as with the bulk path.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.in_flight: set[str] = set()

    def fill(self, dom: Any, domain: Domain, xml: DomainXML | None, libvirt: Any = None) -> None:
        """Adds the missing groups to `domain.stats`, in the bulk calls' keys. `libvirt`:
        the binding, when the caller has it at hand (not looked up again per domain)."""
        stats = domain.stats
        wanted = BULK_GROUPS if domain.state in ACTIVE_STATES else CONFIG_GROUPS
        groups = {key[: key.find(".") + 1] for key in stats}  # "vcpu.current" -> "vcpu."
        missing = [g for g in wanted if g not in groups]
        if not missing:
            return
        with self._lock:
            if domain.uuid in self.in_flight:
                return  # a call on this domain from an earlier collection never returned
            self.in_flight.add(domain.uuid)
        try:
            _fill_per_domain(dom, domain, xml, missing, libvirt or _libvirt())
        finally:
            with self._lock:
                self.in_flight.discard(domain.uuid)


def _fill_per_domain(
    dom: Any, domain: Domain, xml: DomainXML | None, missing: list[str], libvirt: Any
) -> None:
    stats = domain.stats
    if {"vcpu.", "balloon."} & set(missing):
        _state, max_kib, current_kib, vcpus, cpu_ns = dom.info()
        if "vcpu." in missing:
            stats["vcpu.current"] = vcpus
            if domain.state in ACTIVE_STATES:
                stats["cpu.time"] = cpu_ns
        if "balloon." in missing:
            stats["balloon.maximum"] = max_kib
            stats["balloon.current"] = current_kib
    if xml is None or domain.state not in ACTIVE_STATES:
        return
    if "block." in missing:
        index = 0
        for disk in xml.disks:
            try:
                rd_req, rd_bytes, wr_req, wr_bytes, _errs = dom.blockStats(disk)
            except libvirt.libvirtError:
                continue  # e.g. an empty CD-ROM drive
            prefix = f"block.{index}."
            stats.update(
                {
                    prefix + "name": disk,
                    prefix + "rd.reqs": rd_req,
                    prefix + "rd.bytes": rd_bytes,
                    prefix + "wr.reqs": wr_req,
                    prefix + "wr.bytes": wr_bytes,
                }
            )
            index += 1
        stats["block.count"] = index
    if "net." in missing:
        index = 0
        for iface in xml.interfaces:
            try:
                counters = dom.interfaceStats(iface)
            except libvirt.libvirtError:
                continue
            prefix = f"net.{index}."
            stats[prefix + "name"] = iface
            for key, value in zip(
                (
                    "rx.bytes",
                    "rx.pkts",
                    "rx.errs",
                    "rx.drop",
                    "tx.bytes",
                    "tx.pkts",
                    "tx.errs",
                    "tx.drop",
                ),
                counters,
                strict=True,
            ):
                stats[prefix + key] = value
            index += 1
        stats["net.count"] = index


def _read_pool(pool: Any) -> Pool:
    state, capacity, allocation, available = pool.info()
    result = Pool(pool.name(), state, capacity, allocation, available)
    if state == 2:  # running: its volumes are known
        result.volumes = [
            {"name": vol.name(), "path": vol.path(), "capacity": vol.info()[1]}
            for vol in pool.listAllVolumes()
        ]
    return result


def read_snapshot(
    host: Host,
    local: bool,
    qemu_logs: Path | None = None,
    fallback: PerDomainFallback | None = None,
) -> Snapshot:
    """Reads everything one collection needs. Blocking: runs in the target's lane."""
    libvirt = _libvirt()

    conn = host.conn
    fallback = fallback or PerDomainFallback()

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
        | libvirt.VIR_DOMAIN_STATS_BALLOON
        | libvirt.VIR_DOMAIN_STATS_VCPU
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
            _kept_stats(stats),
            reason=int(stats.get("state.reason", 0)),
        )
        if qemu_logs is not None and reasons.is_failure(domain.state, domain.reason):
            logged = reasons.read_qemu_log(qemu_logs, domain.name)
            if logged is not None:
                domain.log_failure_at, _, domain.log_failure_message = logged
        xml = None
        with contextlib.suppress(libvirt.libvirtError, ET.ParseError):
            xml = parse_domain_xml(dom.XMLDesc(0))
        if xml is not None:
            domain.disk_sources = xml.disk_sources
            if domain.state in RUNNING_STATES:
                domain.guest_agent_connected = xml.guest_agent_connected
        fallback.fill(dom, domain, xml, libvirt)
        domains.append(domain)
    pools = [_read_pool(pool) for pool in conn.listAllStoragePools()]
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
        node_info=optional(conn.getInfo),
    )


def _kept_stats(stats: dict[str, Any]) -> dict[str, Any]:
    """The bulk stats the samples use. The vCPU threads' times are summed into cpu.time
    (one key instead of four per vCPU, so a kept snapshot stays small); block device paths
    and other per-vCPU keys are dropped."""
    kept: dict[str, Any] = {}
    cpu_ns = 0
    timed = False
    for key, value in stats.items():
        if key.startswith("state.") or key.endswith(".path"):
            continue
        if key.startswith("vcpu."):
            if key == "vcpu.current":
                kept[key] = value
            elif key.endswith(".time") and key.count(".") == 2:
                cpu_ns += value
                timed = True
            continue
        kept[key] = value
    if timed:
        kept["cpu.time"] = cpu_ns
    return kept


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
    elif current.node_info and current.node_info[1] > 0:  # nodeinfo: MiB
        out.add(fam.HOST_MEMORY_TOTAL, current.node_info[1] * 1024**2, target=target, host=host)

    info = current.node_info
    if info:
        _model, _mib, cpus, mhz, nodes, sockets, cores, _threads = info[:8]
        out.add(fam.HOST_CPUS, cpus, target=target, host=host)
        if mhz > 0:
            hertz = mhz * 1e6 * nodes * sockets * cores
            out.add(fam.HOST_CPU_CAPACITY, hertz, target=target, host=host)
    by_state = dict.fromkeys(fam.POWER_STATES, 0)
    for dom in current.domains:
        by_state[POWER_STATES.get(dom.state, "unknown")] += 1
    for state, count in by_state.items():
        out.add(fam.HOST_VMS, count, target=target, host=host, state=state)

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
        old = before.get(dom.uuid)
        if old is not None and wall <= 0:
            old = None
        nets = _indexed(dom.stats, "net")
        disks = _indexed(dom.stats, "block")
        old_nets = _indexed(old.stats, "net") if old is not None else {}
        old_disks = _indexed(old.stats, "block") if old is not None else {}
        _capacity_samples(out, labels, dom, old, wall, (disks, old_disks), (nets, old_nets))
        for iface, counters in nets.items():
            for family, key in (
                (fam.VM_NET_RX_PACKETS, "rx.pkts"),
                (fam.VM_NET_TX_PACKETS, "tx.pkts"),
                (fam.VM_NET_RX_DROPS, "rx.drop"),
                (fam.VM_NET_TX_DROPS, "tx.drop"),
            ):
                if key in counters:
                    out.add(family, counters[key], **labels, interface=iface)
        if old is None:
            continue
        for iface, counters in nets.items():
            prev = old_nets.get(iface)
            if prev is None:
                continue
            ratio = _packet_loss(prev, counters)
            if ratio is not None:
                out.add(fam.VM_PACKET_LOSS_RATIO, ratio, **labels, interface=iface)
        for disk, counters in disks.items():
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
        if pool.volumes is not None:
            provisioned = sum(vol["capacity"] for vol in pool.volumes)
            out.add(fam.DATASTORE_PROVISIONED, provisioned, **labels)
            sources = {vol["path"] for vol in pool.volumes}
            sources |= {f"{pool.name}/{vol['name']}" for vol in pool.volumes}
            users = sum(1 for d in current.domains if sources.intersection(d.disk_sources))
            out.add(fam.DATASTORE_VMS, users, **labels)
    return out


Devices = dict[str, dict[str, float]]


def _capacity_samples(
    out: SampleSet,
    labels: dict[str, str],
    dom: Domain,
    old: Domain | None,
    wall: float,
    disks: tuple[Devices, Devices],
    nics: tuple[Devices, Devices],
) -> None:
    """vCPUs, memory, CPU use, disk and NIC throughput of one domain; rates need `old`.
    `disks` and `nics`: `_indexed` of this domain's stats and of `old`'s ({} without)."""
    stats = dom.stats
    vcpus = stats.get("vcpu.current")
    if vcpus is not None:
        out.add(fam.VM_VCPUS, vcpus, **labels)
    if "balloon.maximum" in stats:
        out.add(fam.VM_MEMORY, stats["balloon.maximum"] * 1024, **labels)
    running = dom.state in RUNNING_STATES
    if running and "balloon.rss" in stats:
        out.add(fam.VM_MEMORY_USED, stats["balloon.rss"] * 1024, **labels)
    if "cpu.time" in stats and dom.state in ACTIVE_STATES:
        out.add(fam.VM_CPU_SECONDS, stats["cpu.time"] / 1e9, **labels)
        if running and old is not None and vcpus and "cpu.time" in old.stats:
            used = counter_delta(stats["cpu.time"], old.stats["cpu.time"])
            ratio = usage_ratio(used / 1e9, wall, vcpus) if used is not None else None
            if ratio is not None:
                out.add(fam.VM_CPU_USAGE_RATIO, ratio, **labels)
    for (now, then), label, counters in (
        (disks, "disk", DISK_COUNTERS),
        (nics, "interface", NIC_COUNTERS),
    ):
        for device, values in now.items():
            for key, total_family, rate_family in counters:
                if key not in values:
                    continue
                out.add(total_family, values[key], **labels, **{label: device})
                prev = then.get(device, {}).get(key)
                per_second = rate(values[key], prev, wall) if prev is not None else None
                if per_second is not None:
                    out.add(rate_family, per_second, **labels, **{label: device})


DISK_COUNTERS = (
    ("rd.bytes", fam.VM_DISK_READ_BYTES, fam.VM_DISK_READ_RATE),
    ("wr.bytes", fam.VM_DISK_WRITE_BYTES, fam.VM_DISK_WRITE_RATE),
)
NIC_COUNTERS = (
    ("rx.bytes", fam.VM_NET_RX_BYTES, fam.VM_NET_RX_RATE),
    ("tx.bytes", fam.VM_NET_TX_BYTES, fam.VM_NET_TX_RATE),
)


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
    libvirt = _libvirt()

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
    libvirt = _libvirt()

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
        self.fallback = PerDomainFallback()
        self.failures: StartFailures[str] = StartFailures(target.start_failure_window)
        self.qemu_logs = reasons.qemu_log_dir(target.uri)

    def _read(self) -> Snapshot:
        return self.connection.use(
            lambda host: read_snapshot(host, self.local, self.qemu_logs, self.fallback)
        )

    async def collect(self) -> SampleSet:
        try:
            snapshot = await self.lane.run(self._read)
        except Exception as err:
            raise RuntimeError(f"libvirt {self.target.uri}: {describe(err)}") from err
        observe_failures(self.failures, snapshot, self._previous)
        samples = snapshot_samples(self.target.name, snapshot, self._previous, self.failures)
        self._previous = snapshot
        return samples

    async def close(self) -> None:
        await asyncio.wait_for(self.lane.run(self.connection.close), 5)


# Two slots: a call stuck on one hung VM holds one, and the next collection still runs in
# the other, where getAllDomainStats' NOWAIT skips the VM whose monitor is busy and reports
# every other VM.
KIND = Kind(config=LibvirtTarget, create=LibvirtCollector, slots=2)
