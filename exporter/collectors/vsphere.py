"""vSphere (vCenter or a single ESXi) through pyvmomi: VMs, hosts, datastores, autostart.

One collection is one PropertyCollector round trip over a ContainerView (VMs, hosts and
their autostart managers, datastores, and the folders, clusters and datacenters that name
them), following continuation tokens, then batched `QueryPerf` calls for the latest 20 s
realtime sample of the few counters the families need. The blocking part reads the
answers into plain data (a `Snapshot`, recordable as JSON; see vsphere_xml.py for why not
through pyVmomi's objects); `snapshot_samples` turns a snapshot into samples and is tested
on recorded snapshots.

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

import asyncio
import contextlib
import importlib
import logging
import re
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from exporter import families as fam
from exporter.blocking import Lane
from exporter.collectors import start_failures
from exporter.collectors.start_failures import StartFailure, StartFailures
from exporter.collectors.vsphere_events import EventReader, VmFailureEvent, record_events
from exporter.collectors.vsphere_xml import (
    invoke_raw,
    parse_perf,
    parse_retrieve_result,
    post,
    query_perf_request,
)
from exporter.config import TargetConfig, VsphereTarget
from exporter.derive import packet_loss_ratio, unique_vm_labels
from exporter.metrics import SampleSet

log = logging.getLogger("exporter.collectors.vsphere")

REALTIME_INTERVAL = 20  # seconds: ESXi's realtime sample interval
PERF_BATCH = 250  # entities per QueryPerf call: bounded answers, spread over the lane's slots

HOST_COUNTERS = (
    ("cpu.idle.summation", ""),
    ("disk.commands.summation", "*"),
    ("disk.totalLatency.average", "*"),
    ("net.packetsRx.summation", "*"),
    ("net.packetsTx.summation", "*"),
    ("net.droppedRx.summation", "*"),
    ("net.droppedTx.summation", "*"),
)
VM_COUNTERS = (
    ("virtualDisk.readOIO.latest", "*"),
    ("virtualDisk.writeOIO.latest", "*"),
    ("net.packetsRx.summation", "*"),
    ("net.packetsTx.summation", "*"),
    ("net.droppedRx.summation", "*"),
    ("net.droppedTx.summation", "*"),
)

# Only what the families need: every extra property costs vCenter and us per VM.
VM_PROPERTIES = (
    "name",
    "config.uuid",
    "config.template",
    "runtime.powerState",
    "runtime.connectionState",
    "runtime.host",
    "summary.runtime.bootTime",
    "guest.toolsStatus",
    "guest.toolsRunningStatus",
)
HOST_PROPERTIES = (
    "name",
    "parent",
    "runtime.connectionState",
    "runtime.inMaintenanceMode",
    "summary.runtime.bootTime",
    "summary.hardware.numCpuThreads",
    "summary.hardware.memorySize",
    "summary.quickStats.overallMemoryUsage",
    "summary.config.product.version",
    "configManager.autoStartManager",
)
DATASTORE_PROPERTIES = ("name", "summary.capacity", "summary.freeSpace", "summary.accessible")
PARENT_PROPERTIES = ("name", "parent")  # folders, compute resources, datacenters

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


# --- plain data ------------------------------------------------------------------------
PerfData = dict[str, dict[str, dict[str, list[float]]]]  # moid -> counter -> instance -> sample


@dataclass
class Snapshot:
    """What one collection read: objects by managed object id, plain JSON values.

    `objects` maps moid -> {"type": wsdl type, **properties}; references are moids,
    times are unix seconds, an autostart manager's `config` is
    {"defaults": {"enabled", "startDelay"}, "powerInfo": [{"key", "startAction",
    "startOrder", "startDelay"}]}. `perf` maps moid -> counter -> instance ->
    [value, interval seconds] of the latest sample.
    """

    objects: dict[str, dict[str, Any]]
    perf: PerfData = field(default_factory=dict)
    # VM moid -> [Unix time, message] of its latest recorded failed start (vsphere_events)
    start_failures: dict[str, list[Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"objects": self.objects, "perf": self.perf, "start_failures": self.start_failures}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        return cls(
            objects=data["objects"],
            perf=data.get("perf", {}),
            start_failures=data.get("start_failures", {}),
        )


# --- the pure part: snapshot -> samples ------------------------------------------------
def _placement(objects: dict[str, dict[str, Any]], host: dict[str, Any]) -> tuple[str, str]:
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


def _instances(series: dict[str, list[float]] | None) -> dict[str, list[float]]:
    """Per-instance series: "" is the entity's aggregate; "*" is only an echo of the
    query (the simulator sends it for counters it has no instances of)."""
    if not series:
        return {}
    return {k: v for k, v in series.items() if k not in ("", "*")}


def _loss(perf: dict[str, dict[str, list[float]]]) -> dict[str, float]:
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
        rx, tx, drx, dtx = (p.get(instance, [0.0])[0] for p in per)
        out[instance] = packet_loss_ratio(rx + tx, drx + dtx)
    return out


def _autostart(config: dict[str, Any] | None) -> tuple[bool, int, dict[str, dict[str, Any]]]:
    """(defaults enabled, default start delay, powerInfo by VM moid)."""
    if not config:
        return False, 0, {}
    defaults = config.get("defaults") or {}
    return (
        bool(defaults.get("enabled")),
        int(defaults.get("startDelay") or 0),
        {info["key"]: info for info in config.get("powerInfo") or ()},
    )


def snapshot_samples(target: str, snap: Snapshot) -> SampleSet:
    """Every sample of one collection, from its snapshot alone (pure: tested on recorded
    snapshots). vSphere's window families come from vCenter's own 20 s samples, so unlike
    libvirt no previous snapshot is needed."""
    out = SampleSet()
    objects = snap.objects
    hosts = {moid: o for moid, o in objects.items() if o["type"] == "HostSystem"}
    host_names = unique_vm_labels(("", o.get("name", moid), moid) for moid, o in hosts.items())
    placement: dict[str, tuple[str, str]] = {}
    autostart: dict[str, tuple[bool, int, dict[str, dict[str, Any]]]] = {}

    for moid, h in hosts.items():
        name = host_names[moid]
        labels = {"target": target, "host": name}
        cluster, datacenter = placement[moid] = _placement(objects, h)
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

        perf = snap.perf.get(moid)
        if not perf or state != "connected":
            continue
        idle = (perf.get("cpu.idle.summation") or {}).get("")
        threads = h.get("summary.hardware.numCpuThreads")
        if idle and threads:
            ratio = idle[0] / (idle[1] * 1000 * threads)
            out.add(fam.HOST_CPU_IDLE_RATIO, min(1.0, max(0.0, ratio)), **labels)
        commands = _instances(perf.get("disk.commands.summation"))
        latency = _instances(perf.get("disk.totalLatency.average"))
        for device in commands.keys() | latency.keys():
            count, interval = commands.get(device, [0.0, REALTIME_INTERVAL])
            latency_ms = latency.get(device, [0.0])[0]
            out.add(
                fam.HOST_DISK_QUEUE_LENGTH,
                count / interval * latency_ms / 1000,
                **labels,
                device=device,
            )
        for interface, ratio in _loss(perf).items():
            out.add(fam.HOST_PACKET_LOSS_RATIO, ratio, **labels, interface=interface)

    vms = {
        moid: o
        for moid, o in objects.items()
        if o["type"] == "VirtualMachine" and not o.get("config.template")
    }
    vm_names = unique_vm_labels(
        (host_names.get(o.get("runtime.host") or "", ""), o.get("name", moid), moid)
        for moid, o in vms.items()
    )
    # "Any order" VMs (startOrder -1) start after every ordered one on their host.
    last_order: dict[str, int] = {
        host: max((int(i.get("startOrder", -1)) for i in info.values()), default=0)
        for host, (_, _, info) in autostart.items()
    }
    for moid, vm in vms.items():
        host_id = vm.get("runtime.host") or ""
        labels = {"target": target, "host": host_names.get(host_id, ""), "vm": vm_names[moid]}
        cluster, datacenter = placement.get(host_id, ("", ""))
        out.add(
            fam.VM_INFO,
            1,
            **labels,
            platform="vsphere",
            uuid=str(vm.get("config.uuid") or ""),
            cluster=cluster,
            datacenter=datacenter,
        )
        power = POWER_STATES.get(vm.get("runtime.powerState") or "", "unknown")
        if vm.get("runtime.connectionState") in STALE_VM_CONNECTION:
            power = "unknown"
        out.add_state(fam.VM_POWER_STATE, power, **labels)
        failure = snap.start_failures.get(moid)
        if failure:
            start_failures.add_samples(out, StartFailure(*failure), **labels)

        enabled, default_delay, power_info = autostart.get(host_id, (False, 0, {}))
        info = power_info.get(moid)
        action = str(info.get("startAction") or "").lower() if info else ""
        takes_part = enabled and action in ("poweron", "systemdefault")
        out.add(fam.VM_AUTOSTART_ENABLED, 1 if takes_part else 0, **labels)
        if info is not None:
            order = int(info.get("startOrder", -1))
            delay = int(info.get("startDelay", -1))
            out.add(
                fam.VM_AUTOSTART_ORDER,
                order if order >= 0 else max(0, last_order.get(host_id, 0)) + 1,
                **labels,
            )
            out.add(fam.VM_AUTOSTART_DELAY, delay if delay >= 0 else default_delay, **labels)

        if power != "running":
            continue
        if vm.get("summary.runtime.bootTime") is not None:
            out.add(fam.VM_BOOT_TIMESTAMP, vm["summary.runtime.bootTime"], **labels)
        tools = TOOLS_RUNNING.get(vm.get("guest.toolsRunningStatus") or "")
        if tools is not None and vm.get("guest.toolsStatus") != "toolsNotInstalled":
            out.add(fam.VM_GUEST_TOOLS_RUNNING, tools, **labels)
        perf = snap.perf.get(moid)
        if not perf:
            continue
        reads = _instances(perf.get("virtualDisk.readOIO.latest"))
        writes = _instances(perf.get("virtualDisk.writeOIO.latest"))
        for disk in reads.keys() | writes.keys():
            length = reads.get(disk, [0.0])[0] + writes.get(disk, [0.0])[0]
            out.add(fam.VM_DISK_QUEUE_LENGTH, length, **labels, disk=disk)
        for interface, ratio in _loss(perf).items():
            out.add(fam.VM_PACKET_LOSS_RATIO, ratio, **labels, interface=interface)

    datastores = {moid: o for moid, o in objects.items() if o["type"] == "Datastore"}
    ds_names = unique_vm_labels(("", o.get("name", moid), moid) for moid, o in datastores.items())
    for moid, ds in datastores.items():
        labels = {"target": target, "datastore": ds_names[moid]}
        if ds.get("summary.capacity") is not None:
            out.add(fam.DATASTORE_CAPACITY, ds["summary.capacity"], **labels)
        if ds.get("summary.freeSpace") is not None:
            out.add(fam.DATASTORE_FREE, ds["summary.freeSpace"], **labels)
        out.add(fam.DATASTORE_ACCESSIBLE, 1 if ds.get("summary.accessible") else 0, **labels)
    return out


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


# --- the blocking part: sessions and calls ---------------------------------------------
def _pyvmomi() -> tuple[Any, Any]:
    """(vim, vmodl), imported on first use and typed loosely: pyVmomi's generated
    classes carry no annotations."""
    module: Any = importlib.import_module("pyVmomi")
    return module.vim, module.vmodl


class LoginError(Exception):
    """vCenter refused the credentials; retrying every scrape would not help."""


class Session:
    """One logged-in pyvmomi session, its ContainerView and the perf counter ids."""

    def __init__(self, target: VsphereTarget) -> None:
        self.target = target
        self.si: Any = None
        self.content: Any = None  # the ServiceContent, read once per session
        self.view: Any = None
        self.counter_ids: dict[str, int] = {}
        self.counter_names: dict[int, str] = {}
        self.autostart_via_manager = True  # see _filter_spec
        self._lock = threading.Lock()

    def _ssl_context(self) -> ssl.SSLContext:
        if not self.target.verify_tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        return ssl.create_default_context(cafile=self.target.ca_file)

    def ensure(self) -> Any:
        """The service instance, logging in first when there is no session. Blocking."""
        with self._lock:
            if self.si is None:
                self._login()
            return self.si

    def _login(self) -> None:
        connect: Any = importlib.import_module("pyVim.connect")
        vim, _ = _pyvmomi()

        host, port = self.target.address
        assert self.target.password is not None  # the config requires one
        try:
            si = connect.SmartConnect(
                host=host,
                port=port,
                user=self.target.username,
                pwd=self.target.password.reveal(),
                sslContext=self._ssl_context(),
                httpConnectionTimeout=self.target.timeout,
                connectionPoolTimeout=-1,
            )
        except vim.fault.InvalidLogin:
            raise LoginError(
                f"login as {self.target.username!r} refused: incorrect user name or password"
                f" ({self.target.password.origin})"
            ) from None
        try:
            content = si.RetrieveContent()
            types = [
                vim.VirtualMachine,
                vim.HostSystem,
                vim.Datastore,
                vim.ComputeResource,
                vim.Datacenter,
                vim.Folder,
            ]
            self.view = content.viewManager.CreateContainerView(content.rootFolder, types, True)
            counters = content.perfManager.perfCounter
            self.counter_ids = {
                f"{c.groupInfo.key}.{c.nameInfo.key}.{c.rollupType}": c.key for c in counters
            }
            self.counter_names = {v: k for k, v in self.counter_ids.items()}
        except Exception:
            with contextlib.suppress(Exception):
                si.RetrieveContent().sessionManager.Logout()
            raise
        self.si, self.content = si, content

    def drop(self) -> None:
        """Forgets a session vCenter no longer knows; the next call logs in again."""
        with self._lock:
            self.si, self.content, self.view = None, None, None

    def logout(self) -> None:
        with self._lock:
            content, self.si, self.content, self.view = self.content, None, None, None
        if content is not None:
            with contextlib.suppress(Exception):
                content.sessionManager.Logout()


def _filter_spec(view: Any, via_manager: bool) -> Any:
    """The one filter of a collection. `via_manager`: each host's autostart config comes
    from its HostAutoStartManager through a traversal; otherwise from the host's copy in
    `config.autoStart` (the fallback for a vCenter that refuses the traversal)."""
    vim, vmodl = _pyvmomi()
    pc = vmodl.query.PropertyCollector
    # view -> its objects -> each host's autostart manager (a property path, one hop).
    to_autostart = pc.TraversalSpec(
        name="hostAutoStart", type=vim.HostSystem, path="configManager.autoStartManager", skip=False
    )
    to_objects = pc.TraversalSpec(
        name="viewObjects",
        type=vim.view.ContainerView,
        path="view",
        skip=False,
        selectSet=[to_autostart] if via_manager else [],
    )
    host_properties = list(HOST_PROPERTIES)
    if not via_manager:
        host_properties.append("config.autoStart")
    props = [
        pc.PropertySpec(type=vim.VirtualMachine, pathSet=list(VM_PROPERTIES)),
        pc.PropertySpec(type=vim.HostSystem, pathSet=host_properties),
        pc.PropertySpec(type=vim.Datastore, pathSet=list(DATASTORE_PROPERTIES)),
        pc.PropertySpec(type=vim.ComputeResource, pathSet=list(PARENT_PROPERTIES)),
        pc.PropertySpec(type=vim.Datacenter, pathSet=list(PARENT_PROPERTIES)),
        pc.PropertySpec(type=vim.Folder, pathSet=list(PARENT_PROPERTIES)),
    ]
    if via_manager:
        props.append(pc.PropertySpec(type=vim.host.AutoStartManager, pathSet=["config"]))
    return pc.FilterSpec(
        objectSet=[pc.ObjectSpec(obj=view, skip=True, selectSet=[to_objects])], propSet=props
    )


def retrieve_objects(session: Session) -> dict[str, dict[str, Any]]:
    """One RetrievePropertiesEx over the view, plus its continuations. Blocking."""
    _, vmodl = _pyvmomi()
    session.ensure()
    collector = session.content.propertyCollector
    options = vmodl.query.PropertyCollector.RetrieveOptions(maxObjects=5000)
    try:
        answer = invoke_raw(
            collector,
            "RetrievePropertiesEx",
            [_filter_spec(session.view, session.autostart_via_manager)],
            options,
        )
    except (vmodl.fault.InvalidArgument, vmodl.query.InvalidProperty) as err:
        if not session.autostart_via_manager:
            raise
        # A vCenter that does not follow the property path to the autostart managers:
        # read each host's copy of the config instead, from now on for this session.
        log.warning(
            "property collector refused the traversal to autostart managers,"
            " reading config.autoStart of each host instead",
            extra={"fields": {"target": session.target.name, "reason": describe(err)}},
        )
        session.autostart_via_manager = False
        answer = invoke_raw(
            collector, "RetrievePropertiesEx", [_filter_spec(session.view, False)], options
        )
    objects, token = parse_retrieve_result(answer)
    while token:
        more, token = parse_retrieve_result(
            invoke_raw(collector, "ContinueRetrievePropertiesEx", token)
        )
        objects.update(more)
    return objects


def query_perf(session: Session, hosts: list[str], vms: list[str]) -> PerfData:
    """One QueryPerf for these hosts and VMs: the latest realtime sample. Blocking."""
    session.ensure()

    def metric_ids(counters: tuple[tuple[str, str], ...]) -> list[tuple[int, str]]:
        ids = session.counter_ids
        return [(ids[name], instance) for name, instance in counters if name in ids]

    host_metrics, vm_metrics = metric_ids(HOST_COUNTERS), metric_ids(VM_COUNTERS)
    specs = [("HostSystem", moid, host_metrics) for moid in hosts]
    specs += [("VirtualMachine", moid, vm_metrics) for moid in vms]
    if not specs:
        return {}
    perf_manager = session.content.perfManager
    body = query_perf_request(perf_manager, specs, REALTIME_INTERVAL)
    answer = post(perf_manager, "QueryStats", body)  # QueryStats is pyVmomi's QueryPerf
    return parse_perf(answer, session.counter_names)


def _is_not_authenticated(err: BaseException) -> bool:
    vim, _ = _pyvmomi()
    return isinstance(err, vim.fault.NotAuthenticated)


def describe(err: BaseException) -> str:
    """A one-line reason for on-call: the fault's message, or its type."""
    message = getattr(err, "msg", None) or str(err) or type(err).__name__
    return re.sub(r"\s+", " ", str(message)).strip()


def _batches(entities: list[tuple[str, bool]]) -> list[list[tuple[str, bool]]]:
    return [entities[i : i + PERF_BATCH] for i in range(0, len(entities), PERF_BATCH)]


class VsphereCollector:
    def __init__(self, target: VsphereTarget, lane: Lane) -> None:
        self.target = target
        self.lane = lane
        self.session = Session(target)
        # (moid, is host) QueryPerf'd by the previous collection
        self._perf_plan: list[tuple[str, bool]] = []
        self.events = EventReader(target.start_failure_window)
        self.failures: StartFailures[str] = StartFailures(target.start_failure_window)

    def _read_events(self) -> list[VmFailureEvent]:
        si = self.session.ensure()
        return self.events.read(si, self.session.content)

    async def _events(self) -> list[VmFailureEvent]:
        """New failed-start events; a failure here costs the start failures only."""
        try:
            return await self.lane.run(self._read_events)
        except Exception as err:
            log.warning(
                "reading vCenter's events failed, start failures not updated",
                extra={"fields": {"target": self.target.name, "reason": describe(err)}},
            )
            return []

    async def _retrieve(self) -> dict[str, dict[str, Any]]:
        try:
            return await self.lane.run(retrieve_objects, self.session)
        except Exception as err:
            if not _is_not_authenticated(err):
                raise
            # The session expired or vCenter restarted: log in again, once.
            log.info(
                "vSphere session no longer valid, logging in again",
                extra={"fields": {"target": self.target.name}},
            )
            self.session.drop()
            return await self.lane.run(retrieve_objects, self.session)

    async def _perf(self, batch: list[tuple[str, bool]]) -> PerfData | Exception:
        """One QueryPerf batch; its failure is returned, not raised, so that the other
        batches and the inventory still count."""
        hosts = [e for e, is_host in batch if is_host]
        vms = [e for e, is_host in batch if not is_host]
        try:
            return await self.lane.run(query_perf, self.session, hosts, vms)
        except Exception as err:
            return err

    async def read_snapshot(self) -> Snapshot:
        """Inventory and perf samples. The perf queries for the entities of the previous
        collection start at once, beside the property retrieval (the lane has two slots),
        so a collection takes about the longer of the two, not their sum; entities new
        since then are queried after the retrieval, and samples of entities no longer
        eligible are dropped."""
        previous = self._perf_plan
        tasks: list[asyncio.Future[Any]] = []
        try:
            retrieval = asyncio.ensure_future(self._retrieve())
            tasks.append(retrieval)
            events = asyncio.ensure_future(self._events())
            tasks.append(events)
            early = [asyncio.ensure_future(self._perf(b)) for b in _batches(previous)]
            tasks += early
            objects = await retrieval
            snap = Snapshot(objects)
            hosts, vms = perf_targets(snap)
            plan = [(h, True) for h in hosts] + [(v, False) for v in vms]
            known = set(previous)
            late = [
                asyncio.ensure_future(self._perf(b))
                for b in _batches([e for e in plan if e not in known])
            ]
            tasks += late
            answers: list[PerfData | Exception] = list(await asyncio.gather(*early))
            # Batches that failed early (e.g. on the session the retrieval replaced) run
            # once more, for the entities still wanted.
            current = set(plan)
            retry = [
                e
                for batch, answer in zip(_batches(previous), answers, strict=True)
                if isinstance(answer, Exception)
                for e in batch
                if e in current
            ]
            if retry:
                answers = [a for a in answers if not isinstance(a, Exception)]
                again = [asyncio.ensure_future(self._perf(b)) for b in _batches(retry)]
                tasks += again
                late += again
            answers += await asyncio.gather(*late)
            record_events(self.failures, await events)
        finally:
            for task in tasks:  # on timeout or failure, nothing keeps running
                task.cancel()
        wanted = set(hosts) | set(vms)
        for answer in answers:
            if isinstance(answer, Exception):
                if _is_not_authenticated(answer):
                    raise answer
                # Samples are the lesser part: keep inventory and state, say what is missing.
                log.warning(
                    "QueryPerf failed, window families missing for some entities",
                    extra={"fields": {"target": self.target.name, "reason": describe(answer)}},
                )
                continue
            snap.perf.update((k, v) for k, v in answer.items() if k in wanted)
        self._perf_plan = plan
        self.failures.expire(time.time())
        snap.start_failures = {
            moid: [failure.timestamp, failure.reason]
            for moid in snap.objects
            if (failure := self.failures.get(moid)) is not None
        }
        return snap

    async def collect(self) -> SampleSet:
        started = time.monotonic()
        try:
            snap = await self.read_snapshot()
        except LoginError as err:
            raise RuntimeError(f"vsphere {self.target.host}: {err}") from None
        except Exception as err:
            # The session stays: it is still valid after a network error or a fault, and
            # logging in anew each time would pile up sessions on vCenter.
            raise RuntimeError(f"vsphere {self.target.host}: {describe(err)}") from err
        samples = snapshot_samples(self.target.name, snap)
        log.debug(
            "collected",
            extra={
                "fields": {
                    "target": self.target.name,
                    "objects": len(snap.objects),
                    "seconds": round(time.monotonic() - started, 3),
                }
            },
        )
        return samples

    async def close(self) -> None:
        await self.lane.run(self.session.logout)


def create(target: TargetConfig, lane: Lane) -> VsphereCollector:
    assert isinstance(target, VsphereTarget)
    return VsphereCollector(target, lane)
