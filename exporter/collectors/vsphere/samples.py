"""vSphere's pure part: a `Snapshot` of plain data -> samples, by hosts, VMs and datastores.

Tested on recorded snapshots. vSphere's window families come from vCenter's own realtime
samples, so unlike libvirt no previous snapshot is needed.

Performance counters (group.name.rollup) and what is made of them:
- host CPU idle: `cpu.idle.summation` instance "" (milliseconds idle summed over all
  logical CPUs in the sample interval) / (interval x numCpuThreads).
- host disk queue: per device (naa.*), Little's law: `disk.commands.summation` / interval
  (I/Os per second) x `disk.totalLatency.average` (ms, queue plus device time) / 1000.
  ESXi exposes no outstanding-I/O counter per device (only esxtop has ACTV + QUED).
- VM disk queue: per virtual disk (scsi0:0), `virtualDisk.readOIO.latest` +
  `virtualDisk.writeOIO.latest`, ESXi's own average of outstanding requests.
- packet loss, hosts (per vmnic) and VMs (per vNIC device key): `net.droppedRx/Tx` /
  (`net.packetsRx/Tx` + `net.droppedRx/Tx`), all `.summation` over the interval.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from exporter import families as fam
from exporter.collectors import start_failures
from exporter.collectors.start_failures import StartFailure
from exporter.derive import packet_loss_ratio, unique_vm_labels
from exporter.metrics import LabelValues, SampleSet

REALTIME_INTERVAL = 20  # seconds: ESXi's realtime sample interval

POWER_STATES = {"poweredOn": "running", "poweredOff": "stopped", "suspended": "suspended"}
# A VM on a host vCenter cannot reach has a stale power state: report unknown.
STALE_VM_CONNECTION = {"disconnected", "orphaned"}
CONNECTION_STATES = {
    "connected": "connected",
    "disconnected": "disconnected",
    "notResponding": "not_responding",
}
TOOLS_RUNNING = {
    "guestToolsRunning": 1.0,
    "guestToolsExecutingScripts": 1.0,
    "guestToolsNotRunning": 0.0,
}

# (value, interval seconds) of an instance's latest sample. A tuple, not a list: the
# cyclic garbage collector stops tracking tuples of floats and the dicts holding only
# them, so 100,000 series of perf data are not scanned again and again while a
# collection runs.
PerfSample = tuple[float, float]
Series = dict[str, PerfSample]  # instance -> its latest sample
EntityPerf = dict[str, Series]  # counter -> its series
PerfData = dict[str, EntityPerf]  # by moid
NO_SAMPLE: PerfSample = (0.0, float(REALTIME_INTERVAL))  # an instance missing from a series
Objects = dict[str, dict[str, Any]]
Autostart = tuple[bool, int, dict[str, dict[str, Any]]]


@dataclass
class Snapshot:
    """What one collection read: objects by managed object id, plain JSON values.

    `objects` maps moid -> {"type": wsdl type, **properties}; references are moids,
    times are unix seconds, an autostart manager's `config` is
    {"defaults": {"enabled", "startDelay"}, "powerInfo": [{"key", "startAction",
    "startOrder", "startDelay"}]}. `perf` maps moid -> counter -> instance ->
    (value, interval seconds) of the latest sample.
    """

    objects: Objects
    perf: PerfData = field(default_factory=dict)
    # VM moid -> [Unix time, message] of its latest recorded failed start (events.py)
    start_failures: dict[str, list[Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"objects": self.objects, "perf": self.perf, "start_failures": self.start_failures}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        return cls(
            objects=data["objects"],
            perf={
                moid: {
                    counter: {
                        instance: (sample[0], sample[1]) for instance, sample in series.items()
                    }
                    for counter, series in entity.items()
                }
                for moid, entity in data.get("perf", {}).items()
            },
            start_failures=data.get("start_failures", {}),
        )


@dataclass
class Hosts:
    """What the VMs' samples need to know about the hosts, by host moid."""

    names: dict[str, str]
    placement: dict[str, tuple[str, str]]  # (cluster, datacenter)
    autostart: dict[str, Autostart]


@dataclass
class Labelled:
    """The first of a snapshot's two passes (`inventory_samples`): the samples of its
    objects alone, and the label values of the entities the second pass
    (`add_perf_samples`: perf data and start failures) adds samples of.

    The first pass is most of the work and depends on the objects only: a collector keeps
    it while vCenter reports no change (`made_from`)."""

    objects: Objects  # as given, each object's dict the one read
    samples: SampleSet
    hosts: list[tuple[str, LabelValues]]  # connected hosts: (moid, (target, host))
    vms: list[tuple[str, LabelValues, bool]]  # (moid, (target, host, vm), running)

    def made_from(self, objects: Objects) -> bool:
        """Whether `objects` are the ones this was made from. The kept inventory replaces
        an object's dict when it changes (inventory.py), so identity is enough."""
        mine = self.objects
        return len(objects) == len(mine) and all(
            mine.get(moid) is entry for moid, entry in objects.items()
        )


def snapshot_samples(target: str, snap: Snapshot) -> SampleSet:
    """Every sample of one collection, from its snapshot alone. Objects are taken in the
    order of their ids, so the exposition does not depend on the order vCenter answered in
    (a full read and the kept inventory give the same text)."""
    return add_perf_samples(inventory_samples(target, snap.objects), snap)


def inventory_samples(target: str, objects: Objects) -> Labelled:
    """The samples that need neither perf data nor events: hosts, VMs and datastores."""
    labelled = Labelled(objects, SampleSet(), [], [])
    ordered = dict(sorted(objects.items()))
    hosts = host_samples(labelled, target, ordered)
    vm_samples(labelled, target, ordered, hosts)
    datastore_samples(labelled.samples, target, ordered)
    labelled.samples = labelled.samples.sealed()  # served as long as the objects are the same
    return labelled


def add_perf_samples(labelled: Labelled, snap: Snapshot) -> SampleSet:
    """The first pass's samples (shared, sealed: `labelled` may serve again) and those of
    `snap`'s perf data and start failures, in families of their own."""
    out, perf = labelled.samples.copy(), snap.perf
    for moid, key in labelled.hosts:
        if perf.get(moid):
            _host_perf_samples(out, key, labelled.objects[moid], perf[moid])
    for moid, key, running in labelled.vms:
        failure = snap.start_failures.get(moid)
        if failure:
            labels = dict(zip(fam.VM, key, strict=True))
            start_failures.add_samples(out, StartFailure(*failure), **labels)
        vm_perf = perf.get(moid)
        if running and vm_perf:
            _vm_perf_samples(out, key, vm_perf)
    return out


def _placement(objects: Objects, host: dict[str, Any]) -> tuple[str, str]:
    """(cluster, datacenter) names of a host: its parent if a cluster, the first
    Datacenter above it."""
    cluster = ""
    parent = objects.get(host.get("parent") or "")
    if parent is not None and parent["type"] == "ClusterComputeResource":
        cluster = parent.get("name", "")
    seen = 0
    while parent is not None and parent["type"] != "Datacenter" and seen < 64:
        parent = objects.get(parent.get("parent") or "")
        seen += 1
    datacenter = (
        parent.get("name", "") if parent is not None and parent["type"] == "Datacenter" else ""
    )
    return cluster, datacenter


def _instances(series: Series | None) -> Series:
    """Per-instance series: "" is the entity's aggregate; "*" is only an echo of the
    query (the simulator sends it for counters it has no instances of)."""
    if not series or series.keys() <= NOT_INSTANCES:  # the common case, without a copy
        return {}
    return {k: v for k, v in series.items() if k not in NOT_INSTANCES}


NOT_INSTANCES = frozenset(("", "*"))


def _loss(perf: EntityPerf) -> dict[str, float]:
    """Packet loss ratio per network instance over the latest sample."""
    names = (
        "net.packetsRx.summation",
        "net.packetsTx.summation",
        "net.droppedRx.summation",
        "net.droppedTx.summation",
    )
    per = [_instances(perf.get(n)) for n in names]
    out: dict[str, float] = {}
    for instance in set().union(*per):
        rx, tx, drx, dtx = (p.get(instance, NO_SAMPLE)[0] for p in per)
        out[instance] = packet_loss_ratio(rx + tx, drx + dtx)
    return out


def _autostart(config: dict[str, Any] | None) -> Autostart:
    """(defaults enabled, default start delay, powerInfo by VM moid)."""
    if not config:
        return False, 0, {}
    defaults = config.get("defaults") or {}
    return (
        bool(defaults.get("enabled")),
        int(defaults.get("startDelay") or 0),
        {info["key"]: info for info in config.get("powerInfo") or ()},
    )


def host_samples(labelled: Labelled, target: str, objects: Objects) -> Hosts:
    """The hosts' inventory samples; notes the connected ones for their perf samples and
    returns what the VMs' samples need about them."""
    out = labelled.samples
    hosts = {moid: o for moid, o in objects.items() if o["type"] == "HostSystem"}
    host_names = unique_vm_labels(("", o.get("name", moid), moid) for moid, o in hosts.items())
    placement: dict[str, tuple[str, str]] = {}
    autostart: dict[str, Autostart] = {}

    for moid, h in hosts.items():
        name = host_names[moid]
        labels = {"target": target, "host": name}
        cluster, _ = placement[moid] = _placement(objects, h)
        out.add(
            fam.HOST_INFO,
            1,
            **labels,
            platform="vsphere",
            cluster=cluster,
            version=str(h.get("summary.config.product.version") or ""),
        )
        state = CONNECTION_STATES.get(h.get("runtime.connectionState") or "", "disconnected")
        out.add_state(fam.HOST_CONNECTION_STATE, state, **labels)
        if h.get("runtime.inMaintenanceMode") is not None:
            out.add(fam.HOST_MAINTENANCE_MODE, 1 if h["runtime.inMaintenanceMode"] else 0, **labels)
        if h.get("summary.runtime.bootTime") is not None:
            out.add(fam.HOST_BOOT_TIMESTAMP, h["summary.runtime.bootTime"], **labels)
        memory = h.get("summary.hardware.memorySize")
        used_mb = h.get("summary.quickStats.overallMemoryUsage")
        if memory:
            out.add(fam.HOST_MEMORY_TOTAL, memory, **labels)
            if used_mb is not None:
                out.add(fam.HOST_MEMORY_USAGE_RATIO, min(1.0, used_mb * 1048576 / memory), **labels)
        # The manager's config, or the host's copy of it when read that way (fallback).
        manager = objects.get(h.get("configManager.autoStartManager") or "")
        config = manager.get("config") if manager else h.get("config.autoStart")
        autostart[moid] = _autostart(config)
        if manager is not None or config is not None:
            out.add(fam.HOST_AUTOSTART_ENABLED, 1 if autostart[moid][0] else 0, **labels)
        if state == "connected":
            labelled.hosts.append((moid, (target, name)))
    return Hosts(host_names, placement, autostart)


def _host_perf_samples(
    out: SampleSet, key: LabelValues, host: dict[str, Any], perf: EntityPerf
) -> None:
    """CPU, disk queue and packet loss of a connected host; `key` is its (target, host).
    Its CPU count and capacity go with them, as they always have: only beside the CPU
    idle ratio they are read with."""
    idle = (perf.get("cpu.idle.summation") or {}).get("")
    threads = host.get("summary.hardware.numCpuThreads")
    if threads:
        out.put(fam.HOST_CPUS, key, threads)
    cores, mhz = host.get("summary.hardware.numCpuCores"), host.get("summary.hardware.cpuMhz")
    if cores and mhz:
        out.put(fam.HOST_CPU_CAPACITY, key, cores * mhz * 1e6)
    if idle and threads:
        ratio = idle[0] / (idle[1] * 1000 * threads)
        out.put(fam.HOST_CPU_IDLE_RATIO, key, min(1.0, max(0.0, ratio)))
    commands = _instances(perf.get("disk.commands.summation"))
    latency = _instances(perf.get("disk.totalLatency.average"))
    for device in commands.keys() | latency.keys():
        count, interval = commands.get(device, NO_SAMPLE)
        latency_ms = latency.get(device, NO_SAMPLE)[0]
        out.put(fam.HOST_DISK_QUEUE_LENGTH, (*key, device), count / interval * latency_ms / 1000)
    for interface, ratio in _loss(perf).items():
        out.put(fam.HOST_PACKET_LOSS_RATIO, (*key, interface), ratio)


def vm_samples(labelled: Labelled, target: str, objects: Objects, hosts: Hosts) -> None:
    """The VMs' inventory samples (templates are not VMs): state, autostart, tools; notes
    each VM for its perf and start failure samples."""
    out = labelled.samples
    vms = {
        moid: o
        for moid, o in objects.items()
        if o["type"] == "VirtualMachine" and not o.get("config.template")
    }
    vm_names = unique_vm_labels(
        (hosts.names.get(o.get("runtime.host") or "", ""), o.get("name", moid), moid)
        for moid, o in vms.items()
    )
    # "Any order" VMs (startOrder -1) start after every ordered one on their host.
    last_order: dict[str, int] = {
        host: max((int(i.get("startOrder", -1)) for i in info.values()), default=0)
        for host, (_, _, info) in hosts.autostart.items()
    }
    by_state = {name: dict.fromkeys(fam.POWER_STATES, 0) for name in hosts.names.values()}
    # The label values (target, host, vm) are built once per VM and put in the families'
    # label order (SampleSet.put): this loop runs for every VM of a 10,000-VM vCenter.
    for moid, vm in vms.items():
        host_id = vm.get("runtime.host") or ""
        host = hosts.names.get(host_id, "")
        key = (target, host, vm_names[moid])
        cluster, datacenter = hosts.placement.get(host_id, ("", ""))
        uuid = str(vm.get("config.uuid") or "")
        out.put(fam.VM_INFO, (*key, "vsphere", uuid, cluster, datacenter), 1)
        power = POWER_STATES.get(vm.get("runtime.powerState") or "", "unknown")
        if vm.get("runtime.connectionState") in STALE_VM_CONNECTION:
            power = "unknown"
        out.put_state(fam.VM_POWER_STATE, key, power)
        labelled.vms.append((moid, key, power == "running"))
        if host in by_state:
            by_state[host][power] += 1
        if vm.get("config.hardware.numCPU") is not None:
            out.put(fam.VM_VCPUS, key, vm["config.hardware.numCPU"])
        if vm.get("config.hardware.memoryMB") is not None:
            out.put(fam.VM_MEMORY, key, vm["config.hardware.memoryMB"] * 1024**2)

        enabled, default_delay, power_info = hosts.autostart.get(host_id, (False, 0, {}))
        info = power_info.get(moid)
        action = str(info.get("startAction") or "").lower() if info else ""
        takes_part = enabled and action in ("poweron", "systemdefault")
        out.put(fam.VM_AUTOSTART_ENABLED, key, 1 if takes_part else 0)
        if info is not None:
            order = int(info.get("startOrder", -1))
            delay = int(info.get("startDelay", -1))
            out.put(
                fam.VM_AUTOSTART_ORDER,
                key,
                order if order >= 0 else max(0, last_order.get(host_id, 0)) + 1,
            )
            out.put(fam.VM_AUTOSTART_DELAY, key, delay if delay >= 0 else default_delay)

        if power != "running":
            continue
        if vm.get("summary.runtime.bootTime") is not None:
            out.put(fam.VM_BOOT_TIMESTAMP, key, vm["summary.runtime.bootTime"])
        tools = TOOLS_RUNNING.get(vm.get("guest.toolsRunningStatus") or "")
        if tools is not None and vm.get("guest.toolsStatus") != "toolsNotInstalled":
            out.put(fam.VM_GUEST_TOOLS_RUNNING, key, tools)
    for host, counts in by_state.items():
        for state, count in counts.items():
            out.add(fam.HOST_VMS, count, target=target, host=host, state=state)


def _vm_perf_samples(out: SampleSet, key: LabelValues, perf: EntityPerf) -> None:
    """Disk queues, packet loss and capacity of a running VM; `key` is its (target, host,
    vm)."""
    reads = _instances(perf.get("virtualDisk.readOIO.latest"))
    writes = _instances(perf.get("virtualDisk.writeOIO.latest"))
    for disk in reads.keys() | writes.keys():
        length = reads.get(disk, NO_SAMPLE)[0] + writes.get(disk, NO_SAMPLE)[0]
        out.put(fam.VM_DISK_QUEUE_LENGTH, (*key, disk), length)
    for interface, ratio in _loss(perf).items():
        out.put(fam.VM_PACKET_LOSS_RATIO, (*key, interface), ratio)
    _vm_capacity_samples(out, key, perf)


# What `_vm_capacity_samples` reads: realtime averages over the 20 s sample, asked at the
# target's capacity_interval (see `capacity_due` and `KeptCapacity`), with the instances
# asked for ("" the VM's aggregate, "*" every instance).
VM_CAPACITY_COUNTERS = (
    ("cpu.usage.average", ""),
    ("mem.consumed.average", ""),
    ("virtualDisk.read.average", "*"),
    ("virtualDisk.write.average", "*"),
    ("net.bytesRx.average", "*"),
    ("net.bytesTx.average", "*"),
)
CAPACITY_NAMES = frozenset(name for name, _ in VM_CAPACITY_COUNTERS)


@dataclass
class KeptCapacity:
    """The capacity samples of running VMs, asked of vCenter at most every `interval`
    seconds per VM (the target's `capacity_interval`; 0: every collection) and served
    again in the collections between.

    `read` maps VM moid -> (monotonic time of the read, counter -> instance -> sample)."""

    interval: float = 0.0
    read: dict[str, tuple[float, EntityPerf]] = field(default_factory=dict)

    def due(self, vms: Iterable[str], now: float) -> set[str]:
        """The VMs whose capacity counters a collection at `now` asks: those never read
        (newly running, or whose last read brought none) and those read `interval` ago."""
        read = self.read
        return {vm for vm in vms if vm not in read or now - read[vm][0] >= self.interval}

    def update(
        self, perf: PerfData, running: Collection[str], asked: Collection[str], now: float
    ) -> None:
        """After a collection: the VMs `asked` (answered) keep what `perf` has of their
        capacity counters; every other VM still `running` gets its kept samples into
        `perf`, so its series stay (a series missing from one scrape goes stale); a VM
        no longer running (stopped, gone, host disconnected) is forgotten."""
        read = self.read
        for vm in [vm for vm in read if vm not in running]:
            del read[vm]
        for vm in running:
            if vm in asked:
                fresh = perf.get(vm) or {}
                kept = {name: fresh[name] for name in CAPACITY_NAMES if name in fresh}
                if kept and self.interval > 0:
                    read[vm] = (now, kept)
                else:  # nothing to keep: asked again next time
                    read.pop(vm, None)
            elif vm in read:
                perf.setdefault(vm, {}).update(read[vm][1])


# Realtime per-instance averages in KiB/s -> families in bytes/s (labels: a VM's, then
# the instance's, disk or interface).
VM_RATES = (
    ("virtualDisk.read.average", fam.VM_DISK_READ_RATE),
    ("virtualDisk.write.average", fam.VM_DISK_WRITE_RATE),
    ("net.bytesRx.average", fam.VM_NET_RX_RATE),
    ("net.bytesTx.average", fam.VM_NET_TX_RATE),
)


def _vm_capacity_samples(out: SampleSet, key: LabelValues, perf: EntityPerf) -> None:
    """CPU use, consumed memory and throughput of a running VM from its realtime sample;
    `key` is its (target, host, vm)."""
    usage = (perf.get("cpu.usage.average") or {}).get("")
    if usage is not None:  # percent with two decimals: 2500 is 25.00 %
        out.put(fam.VM_CPU_USAGE_RATIO, key, min(1.0, usage[0] / 10000))
    consumed = (perf.get("mem.consumed.average") or {}).get("")
    if consumed is not None:  # KiB
        out.put(fam.VM_MEMORY_USED, key, consumed[0] * 1024)
    for counter, family in VM_RATES:
        for instance, (kib_per_second, _) in _instances(perf.get(counter)).items():
            out.put(family, (*key, instance), kib_per_second * 1024)


def datastore_samples(out: SampleSet, target: str, objects: Objects) -> None:
    """Capacity, free space and accessibility of each datastore."""
    datastores = {moid: o for moid, o in objects.items() if o["type"] == "Datastore"}
    ds_names = unique_vm_labels(("", o.get("name", moid), moid) for moid, o in datastores.items())
    for moid, ds in datastores.items():
        labels = {"target": target, "datastore": ds_names[moid]}
        if ds.get("summary.capacity") is not None:
            out.add(fam.DATASTORE_CAPACITY, ds["summary.capacity"], **labels)
        if ds.get("summary.freeSpace") is not None:
            out.add(fam.DATASTORE_FREE, ds["summary.freeSpace"], **labels)
        out.add(fam.DATASTORE_ACCESSIBLE, 1 if ds.get("summary.accessible") else 0, **labels)
        capacity, free = ds.get("summary.capacity"), ds.get("summary.freeSpace")
        uncommitted = ds.get("summary.uncommitted")
        # vCenter leaves uncommitted unset until it has computed it: provisioned is then
        # unknown, not capacity - free.
        if capacity is not None and free is not None and uncommitted is not None:
            out.add(fam.DATASTORE_PROVISIONED, capacity - free + uncommitted, **labels)
        # The VIM API sends an empty array as no value at all: no vm list is no VMs.
        out.add(fam.DATASTORE_VMS, len(ds.get("vm") or ()), **labels)


def perf_targets(snap: Snapshot) -> tuple[list[str], list[str]]:
    """(host moids, VM moids) worth a QueryPerf: connected hosts, running VMs on them.
    vCenter has no realtime samples for the others and may fault on them."""
    objects = snap.objects
    hosts = [
        moid
        for moid, o in objects.items()
        if o["type"] == "HostSystem" and o.get("runtime.connectionState") == "connected"
    ]
    connected = set(hosts)
    vms = [
        moid
        for moid, o in objects.items()
        if o["type"] == "VirtualMachine"
        and o.get("runtime.powerState") == "poweredOn"
        and o.get("runtime.host") in connected
        and not o.get("config.template")
    ]
    return hosts, vms
