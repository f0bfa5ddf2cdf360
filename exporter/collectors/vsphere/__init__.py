"""vSphere (vCenter or a single ESXi) through pyVmomi: VMs, hosts, datastores, autostart.

The inventory (VMs, hosts, autostart managers, datastores) is read in full once per
session and then kept, each collection asking vCenter only for what changed since the
previous one (`WaitForUpdatesEx`); then batched `QueryPerf` calls read the latest 20 s
realtime sample of the few counters the families need. The package's layers:

- `target`: the keys of a vSphere target.
- `session`: the logged-in session kept across collections, its filter spec and the bulk
  calls (blocking, in the target's lane).
- `inventory`: the kept inventory and the PropertyCollector's update protocol.
- `wire`: those calls' requests written and answers read straight as XML into plain data
  (pyVmomi still logs in, keeps the connection and raises faults).
- `samples`: pure, a `Snapshot` of plain data -> samples of hosts, VMs and datastores;
  tested on recorded snapshots.
- `events`: failed VM starts read incrementally from vCenter's event history.
- `collector`: one collection, with the perf batches spread over the lane's two slots.
"""

from __future__ import annotations

from exporter.collectors import Kind
from exporter.collectors.vsphere.collector import VsphereCollector
from exporter.collectors.vsphere.target import VsphereTarget

# Two slots: the perf queries of known entities run beside the property retrieval.
KIND = Kind(config=VsphereTarget, create=VsphereCollector, slots=2)
