"""A vSphere session and the two bulk calls of every collection. Blocking: runs in the
target's lane.

One logged-in pyVmomi session per target, kept across collections, with its ContainerView
(VMs, hosts and their autostart managers, datastores, and the folders, clusters and
datacenters that name them) and the performance counter ids. `filter_spec` is what the
inventory reads of them (see inventory.py for how it is kept); `retrieve_objects` reads it
all in one PropertyCollector round trip (following continuation tokens), the full read
the kept inventory is tested and measured against; `query_perf` is one `QueryPerf` for
the latest realtime sample of the few counters the families need. Answers are read as
plain data through `wire`.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from exporter.collectors.library import describe
from exporter.collectors.vsphere.samples import (
    REALTIME_INTERVAL,
    VM_CAPACITY_COUNTERS,
    Objects,
    PerfData,
)
from exporter.collectors.vsphere.target import VsphereTarget
from exporter.collectors.vsphere.wire import (
    invoke_raw,
    parse_perf,
    parse_retrieve_result,
    post,
    pyvmomi,
    query_perf_request,
)

R = TypeVar("R")
log = logging.getLogger("exporter.collectors.vsphere")

HOST_COUNTERS = (
    ("cpu.idle.summation", ""),
    ("disk.commands.summation", "*"),
    ("disk.totalLatency.average", "*"),
    ("net.packetsRx.summation", "*"),
    ("net.packetsTx.summation", "*"),
    ("net.droppedRx.summation", "*"),
    ("net.droppedTx.summation", "*"),
)
# Asked for every running VM in every collection; the capacity counters
# (samples.VM_CAPACITY_COUNTERS) join them for the VMs due (the target's capacity_interval).
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
    "config.hardware.numCPU",
    "config.hardware.memoryMB",
)
HOST_PROPERTIES = (
    "name",
    "parent",
    "runtime.connectionState",
    "runtime.inMaintenanceMode",
    "summary.runtime.bootTime",
    "summary.hardware.numCpuThreads",
    "summary.hardware.numCpuCores",
    "summary.hardware.cpuMhz",
    "summary.hardware.memorySize",
    "summary.quickStats.overallMemoryUsage",
    "summary.config.product.version",
    "configManager.autoStartManager",
)
DATASTORE_PROPERTIES = (
    "name",
    "summary.capacity",
    "summary.freeSpace",
    "summary.accessible",
    "summary.uncommitted",
    "vm",
)
PARENT_PROPERTIES = ("name", "parent")  # folders, compute resources, datacenters


def _pyvmomi() -> tuple[Any, Any]:
    """(vim, vmodl)."""
    module = pyvmomi()
    return module.vim, module.vmodl


def is_not_authenticated(err: BaseException) -> bool:
    """vCenter no longer knows the session (it expired, or vCenter restarted)."""
    vim, _ = _pyvmomi()
    return isinstance(err, vim.fault.NotAuthenticated)


# pyVim.connect's version probe (GET /sdk/vimServiceVersions.xml, before the login) opens
# its HTTPS connection without a timeout, and SmartConnect has no parameter for it: on a
# vCenter that accepts and never answers it waited forever. Its connection classes are
# replaced by ones that take the timeout of the login running in the calling thread.
_probe = threading.local()
_probe_lock = threading.Lock()


def _bound_version_probe(connect: Any) -> None:
    with _probe_lock:
        if getattr(connect, "_exporter_bounded", False):
            return

        def bounded(base: type) -> type:
            class Bounded(base):  # type: ignore[misc]
                def __init__(self, *args: Any, **kwargs: Any) -> None:
                    timeout = getattr(_probe, "timeout", None)
                    if timeout is not None:
                        kwargs.setdefault("timeout", timeout)
                    super().__init__(*args, **kwargs)

            return Bounded

        connect.HTTPSConnection = bounded(connect.HTTPSConnection)
        connect.HTTPConnection = bounded(connect.HTTPConnection)
        connect._exporter_bounded = True


class _Login:
    """A login in flight, shared by the calls that arrive meanwhile."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.done = threading.Event()
        self.error: BaseException | None = None

    def age(self) -> float:
        return time.monotonic() - self.started


class LoginError(Exception):
    """vCenter refused the credentials. The collection fails with this message alone (no
    fault dump); the next one logs in again, so a corrected password file takes effect
    without a restart."""


class Session:
    """One logged-in pyvmomi session, its ContainerView and the perf counter ids."""

    def __init__(self, target: VsphereTarget) -> None:
        self.target = target
        self.si: Any = None
        self.content: Any = None  # the ServiceContent, read once per session
        self.view: Any = None
        self.counter_ids: dict[str, int] = {}
        self.counter_names: dict[int, str] = {}
        self.autostart_via_manager = True  # see filter_spec
        self._lock = threading.Lock()  # guards the fields, never held across I/O
        self._pending: _Login | None = None

    def _ssl_context(self) -> ssl.SSLContext:
        if not self.target.verify_tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        return ssl.create_default_context(cafile=self.target.ca_file)

    def ensure(self) -> Any:
        """The service instance, logging in first when there is no session. Blocking.

        Calls of one collection that arrive during a login wait for it and share its
        session (or its error). A login still running after the target's timeout (a silent
        vCenter) is not waited for again: the next call logs in on its own, so a hung login
        holds only its own thread, never the lane's other slot.
        """
        with self._lock:
            if self.si is not None:
                return self.si
            pending = self._pending
            stuck = pending is not None and pending.age() > self.target.timeout
            if pending is None or stuck:
                pending = self._pending = _Login()
                mine = True
            else:
                mine = False
        if not mine:
            if pending.done.wait(self.target.timeout):
                if pending.error is not None:
                    raise pending.error
                with self._lock:
                    if self.si is not None:
                        return self.si
            # The login in flight hangs: try our own, unshared.
            return self._install(*self._login())
        try:
            return self._install(*self._login())
        except BaseException as err:
            pending.error = err
            raise
        finally:
            pending.done.set()
            with self._lock:
                if self._pending is pending:
                    self._pending = None

    def _install(self, si: Any, content: Any, view: Any, counter_ids: dict[str, int]) -> Any:
        with self._lock:
            if self.si is None:
                self.si, self.content, self.view = si, content, view
                self.counter_ids = counter_ids
                self.counter_names = {v: k for k, v in counter_ids.items()}
                return si
            current = self.si
        # Another login finished first: keep its session, end ours.
        with contextlib.suppress(Exception):
            content.sessionManager.Logout()
        return current

    def _login(self) -> tuple[Any, Any, Any, dict[str, int]]:
        connect = pyvmomi("pyVim.connect")
        vim, _ = _pyvmomi()
        _bound_version_probe(connect)

        host, port = self.target.address
        _probe.timeout = self.target.timeout
        try:
            si = connect.SmartConnect(
                host=host,
                port=port,
                user=self.target.username,
                pwd=self.target.password.reveal(),
                sslContext=self._ssl_context(),
                # Every SOAP connection: connect and each read bounded by the timeout.
                httpConnectionTimeout=self.target.timeout,
                connectionPoolTimeout=-1,
            )
        except vim.fault.InvalidLogin:
            raise LoginError(
                f"login as {self.target.username!r} refused: incorrect user name or password"
                f" ({self.target.password.origin})"
            ) from None
        finally:
            _probe.timeout = None
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
            view = content.viewManager.CreateContainerView(content.rootFolder, types, True)
            counters = content.perfManager.perfCounter
            counter_ids = {
                f"{c.groupInfo.key}.{c.nameInfo.key}.{c.rollupType}": c.key for c in counters
            }
        except Exception:
            with contextlib.suppress(Exception):
                si.RetrieveContent().sessionManager.Logout()
            raise
        return si, content, view, counter_ids

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


def filter_spec(view: Any, via_manager: bool) -> Any:
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


def with_autostart_fallback(session: Session, call: Callable[[bool], R]) -> R:
    """`call(via_manager)` with the session's way to the autostart managers; once a vCenter
    refuses the property path to them, each host's own copy of the config from then on."""
    _, vmodl = _pyvmomi()
    try:
        return call(session.autostart_via_manager)
    except (vmodl.fault.InvalidArgument, vmodl.query.InvalidProperty) as err:
        if not session.autostart_via_manager:
            raise
        log.warning(
            "property collector refused the traversal to autostart managers,"
            " reading config.autoStart of each host instead",
            extra={"fields": {"target": session.target.name, "reason": describe(err)}},
        )
        session.autostart_via_manager = False
        return call(False)


def retrieve_objects(session: Session) -> Objects:
    """One RetrievePropertiesEx over the view, plus its continuations. Blocking."""
    _, vmodl = _pyvmomi()
    session.ensure()
    collector = session.content.propertyCollector
    options = vmodl.query.PropertyCollector.RetrieveOptions(maxObjects=5000)
    answer = with_autostart_fallback(
        session,
        lambda via_manager: invoke_raw(
            collector, "RetrievePropertiesEx", [filter_spec(session.view, via_manager)], options
        ),
    )
    objects, token = parse_retrieve_result(answer)
    while token:
        more, token = parse_retrieve_result(
            invoke_raw(collector, "ContinueRetrievePropertiesEx", token)
        )
        objects.update(more)
    return objects


def query_perf_answer(
    session: Session, hosts: list[str], vms: list[str], capacity: Collection[str] = ()
) -> bytes | None:
    """One QueryPerf for these hosts and VMs, the latest realtime sample, as vCenter's
    answer (None: nothing to ask). The VMs also in `capacity` are asked the capacity
    counters too. Blocking."""
    session.ensure()

    def metric_ids(counters: tuple[tuple[str, str], ...]) -> list[tuple[int, str]]:
        ids = session.counter_ids
        return [(ids[name], instance) for name, instance in counters if name in ids]

    host_metrics, vm_metrics = metric_ids(HOST_COUNTERS), metric_ids(VM_COUNTERS)
    vm_all_metrics = vm_metrics + metric_ids(VM_CAPACITY_COUNTERS)
    specs = [("HostSystem", moid, host_metrics) for moid in hosts]
    specs += [
        ("VirtualMachine", moid, vm_all_metrics if moid in capacity else vm_metrics) for moid in vms
    ]
    if not specs:
        return None
    perf_manager = session.content.perfManager
    body = query_perf_request(perf_manager, specs, REALTIME_INTERVAL)
    return post(perf_manager, "QueryStats", body)  # QueryStats is pyVmomi's QueryPerf


def query_perf(
    session: Session, hosts: list[str], vms: list[str], capacity: Collection[str] = ()
) -> PerfData:
    """One QueryPerf for these hosts and VMs, read into plain data. Blocking."""
    answer = query_perf_answer(session, hosts, vms, capacity)
    return {} if answer is None else parse_perf(answer, session.counter_names)
