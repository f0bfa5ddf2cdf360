"""Every metric family the exporter serves, declared once.

Names and labels are the public contract (docs/metrics.md); HELP says what each number
means and where it comes from on each platform. Collectors import these; none declares
its own copy.
"""

from __future__ import annotations

from exporter.metrics import Family, StateSet

T = "target"
VM = (T, "host", "vm")
HOST = (T, "host")

POWER_STATES = ("running", "stopped", "paused", "suspended", "crashed", "unknown")
CONNECTION_STATES = ("connected", "disconnected", "not_responding")

WINDOW_NOTE = (
    " libvirt: computed over the window between this collection and the previous one of"
    " the same target, so the series is absent on the first collection after the exporter"
    " starts. vSphere: over vCenter's latest 20 s realtime sample."
)

# --- VMs ---------------------------------------------------------------------------------
VM_INFO = Family(
    "hypervisor_vm_info",
    "Always 1; identifies a VM. uuid is the libvirt domain UUID or the vSphere BIOS UUID"
    " (config.uuid); cluster and datacenter are empty on libvirt. OpenStack: uuid is the"
    " instance id, cluster its availability zone, datacenter the target's region_name.",
    (*VM, "platform", "uuid", "cluster", "datacenter"),
)
VM_POWER_STATE = StateSet(
    Family(
        "hypervisor_vm_power_state",
        "VM power state as a state set, exactly one state is 1. libvirt: running and blocked"
        " and shutting down are running, shut off is stopped, pmsuspended is suspended."
        " vSphere: runtime.powerState poweredOn/poweredOff/suspended; unknown while the VM's"
        " host is disconnected or not responding (vCenter's state is then stale)."
        " OpenStack: Nova's power_state, RUNNING running, SHUTDOWN stopped, PAUSED paused,"
        " SUSPENDED suspended, CRASHED crashed, NOSTATE (the hypervisor does not know the"
        " instance) unknown.",
        (*VM, "state"),
    ),
    POWER_STATES,
)
VM_POWER_STATE_REASON = Family(
    "hypervisor_vm_power_state_reason",
    "Always 1; why the VM is in its current power state, in the platform's own words."
    " libvirt: the state reason from the bulk stats (state.reason), named after libvirt's"
    " constant lower-cased (VIR_DOMAIN_SHUTOFF_FAILED is failed: the hypervisor tried to"
    " start the VM and could not; VIR_DOMAIN_RUNNING_BOOTED is booted; VIR_DOMAIN_PAUSED_IOERROR"
    " is io_error: paused on a storage error; crashed, panicked, destroyed, shutdown,"
    " saved, unknown, ...). Read it together with hypervisor_vm_power_state. Not on vSphere.",
    (*VM, "reason"),
)
VM_START_FAILURE_TIMESTAMP = Family(
    "hypervisor_vm_start_failure_timestamp_seconds",
    "Unix time of the latest failed start the exporter has a record of; absent when none"
    " is recorded within the target's start_failure_window (default 24 h). vSphere: the"
    " createdTime of the latest VmFailedToPowerOnEvent or HA failed-restart event, read"
    " incrementally from the event history. libvirt: the time in QEMU's log for the domain"
    " (/var/log/libvirt/qemu/NAME.log, local connections where readable), else the"
    " lifecycle event (stopped failed or crashed) the connection delivered, else the"
    " collection that first saw the state reason change to failed or crashed.",
    VM,
)
VM_START_FAILURE_INFO = Family(
    "hypervisor_vm_start_failure_info",
    "Always 1, one series per VM: the platform's message for the failure in"
    " hypervisor_vm_start_failure_timestamp_seconds, whitespace collapsed and cut to 200"
    " characters. vSphere: the event's fault message (fullFormattedMessage without it)."
    ' libvirt: the state and its reason as virsh says them ("shut off (failed)"), then'
    " QEMU's own error line from its log where it wrote one.",
    (*VM, "reason"),
)
VM_AUTOSTART_ENABLED = Family(
    "hypervisor_vm_autostart_enabled",
    "1 when the platform will start this VM when its host boots. libvirt:"
    " virDomainGetAutostart. vSphere: the host's autostart defaults are enabled and the VM"
    " is in the host's powerInfo with startAction powerOn, or systemDefault while the"
    " defaults say powerOn. OpenStack: Nova's vm_state is active (Nova expects the"
    " instance to run; resume_guests_state_on_host_boot decides whether nova-compute"
    " starts it after a host boot).",
    VM,
)
VM_AUTOSTART_ORDER = Family(
    "hypervisor_vm_autostart_order",
    "Position of the VM in its host's autostart sequence (vSphere powerInfo startOrder;"
    " -1, any order, resolved to one after the host's last ordered VM, where ESXi starts"
    " them). Present for VMs in the host's powerInfo; absent on libvirt.",
    VM,
)
VM_AUTOSTART_DELAY = Family(
    "hypervisor_vm_autostart_delay_seconds",
    "Seconds the host waits after starting this VM before the next one (vSphere powerInfo"
    " startDelay, -1 resolved to the host's autostart defaults startDelay). Present for VMs"
    " in the host's powerInfo; absent on libvirt.",
    VM,
)
VM_BOOT_TIMESTAMP = Family(
    "hypervisor_vm_boot_timestamp_seconds",
    "Unix time the VM was last powered on, running VMs only (vSphere"
    " summary.runtime.bootTime). libvirt does not report it.",
    VM,
)
VM_GUEST_TOOLS_RUNNING = Family(
    "hypervisor_vm_guest_tools_running",
    "1 when the guest agent answers: VMware Tools runningStatus guestToolsRunning on"
    " vSphere (guest.toolsRunningStatus; absent where Tools are not installed), the qemu"
    " guest agent channel connected on libvirt. Running VMs only.",
    VM,
)
VM_DISK_QUEUE_LENGTH = Family(
    "hypervisor_vm_disk_queue_length",
    "Average number of outstanding I/O requests on the VM's disk (iostat aqu-sz). libvirt:"
    " growth of the block device's read, write and flush time counters divided by wall"
    " time. vSphere: virtualDisk.readOIO.latest + virtualDisk.writeOIO.latest per virtual"
    " disk, ESXi's average over its 20 s realtime sample." + WINDOW_NOTE,
    (*VM, "disk"),
)
VM_PACKET_LOSS_RATIO = Family(
    "hypervisor_vm_network_packet_loss_ratio",
    "Dropped packets / (packets + dropped packets), receive and transmit together, on the"
    " VM's interface. libvirt: interface stats rx/tx pkts and drop. vSphere:"
    " net.packetsRx/Tx and net.droppedRx/Tx." + WINDOW_NOTE,
    (*VM, "interface"),
)
VM_NET_RX_PACKETS = Family(
    "hypervisor_vm_network_receive_packets_total",
    "Packets received by the VM's interface since it was created (libvirt interface stats).",
    (*VM, "interface"),
    "counter",
)
VM_NET_TX_PACKETS = Family(
    "hypervisor_vm_network_transmit_packets_total",
    "Packets sent by the VM's interface since it was created (libvirt interface stats).",
    (*VM, "interface"),
    "counter",
)
VM_NET_RX_DROPS = Family(
    "hypervisor_vm_network_receive_drops_total",
    "Received packets dropped on the VM's interface (libvirt interface stats rx_drop).",
    (*VM, "interface"),
    "counter",
)
VM_NET_TX_DROPS = Family(
    "hypervisor_vm_network_transmit_drops_total",
    "Sent packets dropped on the VM's interface (libvirt interface stats tx_drop).",
    (*VM, "interface"),
    "counter",
)

VM_VCPUS = Family(
    "hypervisor_vm_vcpus",
    "Virtual CPUs the VM has (configured, whether or not it runs). libvirt: bulk stats"
    " vcpu.current, or virDomainGetInfo nrVirtCpu where the driver's bulk stats lack the"
    " vcpu group. vSphere: config.hardware.numCPU. OpenStack: the flavor's vcpus (embedded"
    " in the server from compute microversion 2.47).",
    VM,
)
VM_MEMORY = Family(
    "hypervisor_vm_memory_bytes",
    "Memory configured for the VM in bytes. libvirt: the domain's <memory> (bulk stats"
    " balloon.maximum, or virDomainGetInfo maxMem). vSphere: config.hardware.memoryMB."
    " OpenStack: the flavor's ram (from compute microversion 2.47).",
    VM,
)
VM_CPU_USAGE_RATIO = Family(
    "hypervisor_vm_cpu_usage_ratio",
    "CPU the VM used as a share of its vCPUs' capacity, 0..1, running VMs only. libvirt:"
    " growth of the vCPU threads' time (bulk stats vcpu.N.time summed; virDomainGetInfo"
    " cpuTime where the driver's bulk stats lack the vcpu group) / (window x vCPUs),"
    " capped at 1. vSphere: cpu.usage.average (percent of the VM's vCPU capacity) / 100."
    + WINDOW_NOTE,
    VM,
)
VM_CPU_SECONDS = Family(
    "hypervisor_vm_cpu_seconds_total",
    "CPU time the VM's vCPUs used since it started, all together (libvirt bulk stats"
    " vcpu.N.time summed, or virDomainGetInfo cpuTime where the driver's bulk stats lack"
    " the vcpu group). Absent on vSphere, which keeps no such counter.",
    VM,
    "counter",
)
VM_MEMORY_USED = Family(
    "hypervisor_vm_memory_used_bytes",
    "Host memory backing the VM, running VMs only. libvirt: the QEMU process's resident"
    " memory (bulk stats balloon.rss; absent on drivers without it, such as the test"
    " driver). vSphere: mem.consumed.average (host memory consumed by the VM, shared pages"
    " counted once per VM), KiB x 1024.",
    VM,
)
VM_DISK = (*VM, "disk")
VM_DISK_READ_RATE = Family(
    "hypervisor_vm_disk_read_bytes_per_second",
    "Bytes per second the VM read from a disk. libvirt: growth of block rd.bytes (bulk"
    " stats, or virDomainBlockStats where the driver's bulk stats lack the block group)"
    " over the window; disk is the target device (vda). vSphere: virtualDisk.read.average"
    " KiB/s x 1024; disk is the device's scsiN:M." + WINDOW_NOTE,
    VM_DISK,
)
VM_DISK_WRITE_RATE = Family(
    "hypervisor_vm_disk_write_bytes_per_second",
    "Bytes per second the VM wrote to a disk. libvirt: growth of block wr.bytes over the"
    " window. vSphere: virtualDisk.write.average KiB/s x 1024." + WINDOW_NOTE,
    VM_DISK,
)
VM_DISK_READ_BYTES = Family(
    "hypervisor_vm_disk_read_bytes_total",
    "Bytes the VM read from a disk since it started (libvirt block rd.bytes). Absent on vSphere.",
    VM_DISK,
    "counter",
)
VM_DISK_WRITE_BYTES = Family(
    "hypervisor_vm_disk_write_bytes_total",
    "Bytes the VM wrote to a disk since it started (libvirt block wr.bytes). Absent on vSphere.",
    VM_DISK,
    "counter",
)
VM_NIC = (*VM, "interface")
VM_NET_RX_RATE = Family(
    "hypervisor_vm_network_receive_bytes_per_second",
    "Bytes per second the VM's interface received. libvirt: growth of net rx.bytes (bulk"
    " stats, or virDomainInterfaceStats where the driver's bulk stats lack the interface"
    " group) over the window; interface is the host side device (vnet0). vSphere:"
    " net.bytesRx.average KiB/s x 1024 per virtual NIC (its device key)." + WINDOW_NOTE,
    VM_NIC,
)
VM_NET_TX_RATE = Family(
    "hypervisor_vm_network_transmit_bytes_per_second",
    "Bytes per second the VM's interface sent. libvirt: growth of net tx.bytes over the"
    " window. vSphere: net.bytesTx.average KiB/s x 1024." + WINDOW_NOTE,
    VM_NIC,
)
VM_NET_RX_BYTES = Family(
    "hypervisor_vm_network_receive_bytes_total",
    "Bytes the VM's interface received since it was created (libvirt net rx.bytes). Absent"
    " on vSphere.",
    VM_NIC,
    "counter",
)
VM_NET_TX_BYTES = Family(
    "hypervisor_vm_network_transmit_bytes_total",
    "Bytes the VM's interface sent since it was created (libvirt net tx.bytes). Absent on vSphere.",
    VM_NIC,
    "counter",
)

# --- Hosts -------------------------------------------------------------------------------
HOST_INFO = Family(
    "hypervisor_host_info",
    "Always 1; identifies a hypervisor host. version is the hypervisor's (QEMU or ESXi)"
    " version; cluster is empty on libvirt. OpenStack: one per nova-compute service,"
    " cluster its availability zone, version the hypervisor's (hypervisor_version).",
    (*HOST, "platform", "cluster", "version"),
)
HOST_CONNECTION_STATE = StateSet(
    Family(
        "hypervisor_host_connection_state",
        "Host connection state as a state set. vSphere: runtime.connectionState. libvirt:"
        " connected while the target's connection answers. OpenStack: the host's"
        " nova-compute service, up connected, down not_responding, forced down"
        " disconnected.",
        (*HOST, "state"),
    ),
    CONNECTION_STATES,
)
HOST_MAINTENANCE_MODE = Family(
    "hypervisor_host_maintenance_mode",
    "1 when the host is in maintenance mode (vSphere runtime.inMaintenanceMode). libvirt has"
    " no maintenance mode and does not report it. OpenStack: the host's nova-compute"
    " service is disabled (the scheduler places nothing there).",
    HOST,
)
HOST_BOOT_TIMESTAMP = Family(
    "hypervisor_host_boot_timestamp_seconds",
    "Unix time the host booted: vSphere summary.runtime.bootTime; libvirt only on a local"
    " connection (/proc/stat btime of the exporter's own machine).",
    HOST,
)
HOST_CPU_IDLE_RATIO = Family(
    "hypervisor_host_cpu_idle_ratio",
    "Share of the host's CPU time spent idle, 0..1. libvirt: node CPU stats idle /"
    " (user + kernel + idle + iowait). vSphere: cpu.idle.summation (ms idle summed over"
    " logical CPUs) / (20 s sample interval x summary.hardware.numCpuThreads)." + WINDOW_NOTE,
    HOST,
)
HOST_MEMORY_USAGE_RATIO = Family(
    "hypervisor_host_memory_usage_ratio",
    "Share of the host's memory in use, 0..1. libvirt: 1 - (free + buffers + cached) /"
    " total from node memory stats. vSphere: summary.quickStats.overallMemoryUsage /"
    " hardware.memorySize.",
    HOST,
)
HOST_MEMORY_TOTAL = Family(
    "hypervisor_host_memory_bytes",
    "Physical memory of the host in bytes. libvirt: node memory stats total, or nodeinfo"
    " memory where the driver has no memory stats. vSphere: summary.hardware.memorySize."
    " OpenStack: the hypervisor's memory_mb, where the compute API reports it"
    " (microversions up to 2.87).",
    HOST,
)
HOST_AUTOSTART_ENABLED = Family(
    "hypervisor_host_autostart_enabled",
    "1 when the host will start VMs on boot at all: vSphere HostAutoStartManager"
    " config.defaults.enabled. Absent on libvirt (per domain only).",
    HOST,
)
HOST_DISK_QUEUE_LENGTH = Family(
    "hypervisor_host_disk_queue_length",
    "Average number of outstanding I/O requests on a host storage device (iostat aqu-sz)."
    " libvirt, local connections only: weighted time in queue from /proc/diskstats."
    " vSphere, per device by Little's law: disk.commands.summation / 20 s interval x"
    " disk.totalLatency.average (queue and device time)." + WINDOW_NOTE,
    (*HOST, "device"),
)
HOST_PACKET_LOSS_RATIO = Family(
    "hypervisor_host_network_packet_loss_ratio",
    "Dropped packets / (packets + dropped packets) on a host network interface. libvirt,"
    " local connections only: /proc/net/dev. vSphere: net.packetsRx/Tx and"
    " net.droppedRx/Tx.summation per vmnic." + WINDOW_NOTE,
    (*HOST, "interface"),
)

HOST_CPUS = Family(
    "hypervisor_host_cpus",
    "Logical CPUs (hardware threads) of the host. libvirt: nodeinfo cpus (active CPUs)."
    " vSphere: summary.hardware.numCpuThreads. OpenStack: the hypervisor's vcpus, where the"
    " compute API reports it (microversions up to 2.87).",
    HOST,
)
HOST_CPU_CAPACITY = Family(
    "hypervisor_host_cpu_capacity_hertz",
    "CPU capacity of the host as vCenter counts it: clock rate x physical cores"
    " (hyperthreads not counted). vSphere: summary.hardware.cpuMhz x numCpuCores. libvirt:"
    " nodeinfo mhz x nodes x sockets x cores; on Linux nodeinfo's clock is the current one"
    " of the first CPU, so frequency scaling moves it.",
    HOST,
)
HOST_VMS = Family(
    "hypervisor_host_vms",
    "VMs on the host in each power state (the states of hypervisor_vm_power_state; 0 where"
    " none is in that state).",
    (*HOST, "state"),
)

# --- Datastores and storage pools --------------------------------------------------------
DATASTORE = (T, "datastore")
DATASTORE_CAPACITY = Family(
    "hypervisor_datastore_capacity_bytes",
    "Capacity of a datastore (vSphere summary.capacity) or libvirt storage pool (capacity).",
    DATASTORE,
)
DATASTORE_FREE = Family(
    "hypervisor_datastore_free_bytes",
    "Free bytes of a datastore (vSphere summary.freeSpace) or libvirt storage pool (available).",
    DATASTORE,
)
DATASTORE_ACCESSIBLE = Family(
    "hypervisor_datastore_accessible",
    "1 when the datastore is accessible (vSphere summary.accessible) or the libvirt pool is"
    " running.",
    DATASTORE,
)

DATASTORE_PROVISIONED = Family(
    "hypervisor_datastore_provisioned_bytes",
    "Bytes promised to what the datastore holds, thin disks at their full size: can exceed"
    " capacity (overcommit). vSphere: summary.capacity - summary.freeSpace +"
    " summary.uncommitted. libvirt: the sum of the pool's volumes' capacity (virtual"
    " size), running pools only.",
    DATASTORE,
)
DATASTORE_VMS = Family(
    "hypervisor_datastore_vms",
    "VMs with at least one disk on the datastore. vSphere: the datastore's vm list."
    " libvirt: domains (running or not) with a disk whose source is one of the pool's"
    " volumes, by path or by <source pool=...>; running pools only.",
    DATASTORE,
)

# --- Ceph (exporter/collectors/ceph.py) -------------------------------------------------
CEPH_HEALTH_STATUS = Family(
    "hypervisor_ceph_health_status",
    "Overall Ceph health from the monitors (mon_command status, health.status): 0 HEALTH_OK,"
    " 1 HEALTH_WARN, 2 HEALTH_ERR. Muted checks do not raise it, as in `ceph health`.",
    (T,),
)
CEPH_HEALTH_CHECK = Family(
    "hypervisor_ceph_health_check",
    "1 for each active Ceph health check (mon_command health detail), such as OSD_DOWN or"
    " PG_DEGRADED; severity is Ceph's, HEALTH_WARN or HEALTH_ERR. Absent when not active.",
    (T, "check", "severity"),
)
CEPH_HEALTH_CHECK_INFO = Family(
    "hypervisor_ceph_health_check_info",
    "Always 1 for each active Ceph health check; summary is the cluster's own one-line"
    ' summary of it (mon_command health detail, checks.NAME.summary.message, e.g. "1 osds'
    ' down"), whitespace collapsed and cut to 200 characters. A separate family so that'
    " hypervisor_ceph_health_check keeps one series per check while the summary's numbers"
    " change; join on target and check.",
    (T, "check", "severity", "summary"),
)
CEPH_HEALTH_CHECK_MUTED = Family(
    "hypervisor_ceph_health_check_muted",
    "1 for an active Ceph health check that an operator muted (`ceph health mute`), 0 for"
    " an active unmuted one.",
    (T, "check"),
)
CEPH_OSDS = Family(
    "hypervisor_ceph_osds",
    "OSDs in the Ceph OSD map (mon_command status, osdmap.num_osds).",
    (T,),
)
CEPH_OSDS_UP = Family(
    "hypervisor_ceph_osds_up",
    "OSDs the Ceph OSD map marks up, running and answering (osdmap.num_up_osds).",
    (T,),
)
CEPH_OSDS_IN = Family(
    "hypervisor_ceph_osds_in",
    "OSDs the Ceph OSD map marks in, holding data (osdmap.num_in_osds).",
    (T,),
)
CEPH_OSD_UP = Family(
    "hypervisor_ceph_osd_up",
    "1 when this OSD is up in the Ceph OSD map (mon_command osd dump), else 0; osd as Ceph"
    " names it, e.g. osd.2.",
    (T, "osd"),
)
CEPH_OSD_IN = Family(
    "hypervisor_ceph_osd_in",
    "1 when this OSD is in the Ceph OSD map (osd dump), else 0 (out: holds no data).",
    (T, "osd"),
)
CEPH_PGS = Family(
    "hypervisor_ceph_pgs",
    "Placement groups in the Ceph cluster (mon_command status, pgmap.num_pgs).",
    (T,),
)
CEPH_PGS_BY_STATE = Family(
    "hypervisor_ceph_pgs_by_state",
    "Placement groups in each state (pgmap.pgs_by_state split at '+'): a PG that is"
    " active+undersized+degraded counts under active, undersized and degraded, so the"
    " states do not sum to the total. States with no PG are absent.",
    (T, "state"),
)
CEPH_CAPACITY = Family(
    "hypervisor_ceph_capacity_bytes",
    "Raw capacity of all OSDs of the Ceph cluster (mon_command status, pgmap.bytes_total).",
    (T,),
)
CEPH_USED = Family(
    "hypervisor_ceph_used_bytes",
    "Raw bytes used on all OSDs, replicas included (pgmap.bytes_used).",
    (T,),
)
CEPH_MONITORS = Family(
    "hypervisor_ceph_monitors",
    "Monitors in the Ceph monitor map (mon_command status, monmap.num_mons).",
    (T,),
)
CEPH_MONITORS_IN_QUORUM = Family(
    "hypervisor_ceph_monitors_in_quorum",
    "Monitors in the current quorum (mon_command status, quorum_names).",
    (T,),
)
CEPH_OBJECTS_DEGRADED = Family(
    "hypervisor_ceph_objects_degraded",
    "Object copies Ceph has fewer of than the pool's size asks for (mon_command status,"
    " pgmap.degraded_objects; the monitors leave it out while it is 0, so it is 0 then)."
    " Counts copies, as `ceph -s` does: one object missing two replicas counts 2.",
    (T,),
)
CEPH_OBJECTS_MISPLACED = Family(
    "hypervisor_ceph_objects_misplaced",
    "Object copies stored on an OSD other than where CRUSH wants them, waiting to be moved"
    " (mon_command status, pgmap.misplaced_objects; 0 when the monitors leave it out).",
    (T,),
)
CEPH_OSD_FLAG = Family(
    "hypervisor_ceph_osd_flag",
    "1 when the OSD map flag is set (mon_command osd dump, flags), else 0: noup, nodown,"
    " noout, noin, nobackfill, norebalance, norecover, noscrub, nodeep-scrub, pauserd,"
    " pausewr and full always, any other flag an operator set only while set. Permanent"
    " feature flags (sortbitwise, recovery_deletes, purged_snapdirs, pglog_hardlimit) are"
    " left out.",
    (T, "flag"),
)
CEPH_POOL = (T, "pool")
CEPH_POOL_STORED = Family(
    "hypervisor_ceph_pool_stored_bytes",
    "User data stored in the Ceph pool, before replication or erasure coding (mon_command"
    " df, pools[].stats.stored; ceph df's STORED).",
    CEPH_POOL,
)
CEPH_POOL_AVAILABLE = Family(
    "hypervisor_ceph_pool_available_bytes",
    "User data the Ceph pool can still take before its fullest OSD reaches the full ratio,"
    " replication accounted for (mon_command df, pools[].stats.max_avail; ceph df's MAX AVAIL).",
    CEPH_POOL,
)
CEPH_POOL_OBJECTS = Family(
    "hypervisor_ceph_pool_objects",
    "Objects in the Ceph pool (mon_command df, pools[].stats.objects).",
    CEPH_POOL,
)
CEPH_INFO = Family(
    "hypervisor_ceph_info",
    "Always 1; identifies the Ceph cluster behind a target by its fsid.",
    (T, "fsid"),
)


# --- iSCSI (exporter/collectors/iscsi.py) ------------------------------------------------
ISCSI_SESSION = (T, "session", "iqn", "portal")
ISCSI_SESSION_NOTE = (
    " Read from the kernel's iSCSI transport class in sysfs (class/iscsi_session/sessionN);"
    " session is N, iqn the target's name (targetname) and portal the persistent"
    " address:port of the session's first connection."
)
ISCSI_SESSION_UP = Family(
    "hypervisor_iscsi_session_up",
    "1 when the initiator's iSCSI session is logged in (state LOGGED_IN), 0 when it is"
    " FAILED (recovering, I/O blocked) or FREE (not logged in)." + ISCSI_SESSION_NOTE,
    ISCSI_SESSION,
)
ISCSI_SESSION_INFO = Family(
    "hypervisor_iscsi_session_info",
    "Always 1; state is the session's kernel state as sysfs spells it (LOGGED_IN, FAILED,"
    " FREE)." + ISCSI_SESSION_NOTE,
    (*ISCSI_SESSION, "state"),
)
ISCSI_SESSION_RECOVERY_TIMEOUT = Family(
    "hypervisor_iscsi_session_recovery_timeout_seconds",
    "Seconds the kernel keeps a FAILED session's I/O queued before failing it to the upper"
    " layers (multipath), from the session's recovery_tmo." + ISCSI_SESSION_NOTE,
    ISCSI_SESSION,
)
ISCSI_CONNECTION_UP = Family(
    "hypervisor_iscsi_connection_up",
    "1 when the iSCSI connection's kernel state is up, 0 when down, failed or bound, from"
    " class/iscsi_connection/connectionN:C/state; connection is N:C. Absent on kernels"
    " before 5.7, which do not report a connection's state.",
    (T, "session", "connection"),
)


# --- OpenStack ---------------------------------------------------------------------------
OPENSTACK_NOTE = (
    " From Nova's servers of all projects (GET /servers/detail, admin view); host is the"
    " instance's compute host (OS-EXT-SRV-ATTR:host), empty for an instance never placed."
)
OPENSTACK_SERVER_VM_STATE = Family(
    "hypervisor_openstack_server_vm_state",
    "Always 1, one series per instance: Nova's vm_state (OS-EXT-STS:vm_state), what the"
    " instance should be: active (running), stopped, paused, suspended, shelved,"
    " shelved_offloaded, rescued, resized, error, building, soft_deleted." + OPENSTACK_NOTE,
    (*VM, "state"),
)
OPENSTACK_SERVER_TASK_STATE = Family(
    "hypervisor_openstack_server_task_state",
    "Always 1, present only while Nova runs a task on the instance: its task_state"
    " (OS-EXT-STS:task_state: spawning, powering-on, rebooting, migrating, ...)." + OPENSTACK_NOTE,
    (*VM, "state"),
)
OPENSTACK_SERVER_IMAGE_ACTIVE = Family(
    "hypervisor_openstack_server_image_active",
    "For instances not running only: 1 when the Glance image the instance booted from is"
    " active, 0 when it is not (deactivated, queued, killed, pending_delete) or Glance no"
    " longer has it; image is the image's name, or its id where Glance has none. Absent"
    " for instances booted from a volume. A rebuild, an evacuation or an unshelve needs"
    " the image." + OPENSTACK_NOTE,
    (*VM, "image"),
)
OPENSTACK_COMPUTE_SERVICE_UP = Family(
    "hypervisor_openstack_compute_service_up",
    "1 when the host's nova-compute service reports up (it reported to Nova within"
    " service_down_time, 60 s by default; GET /os-services state), 0 when down. A down"
    " service also makes hypervisor_host_connection_state not_responding, or disconnected"
    " where it is forced down.",
    HOST,
)
OPENSTACK_COMPUTE_SERVICE_FORCED_DOWN = Family(
    "hypervisor_openstack_compute_service_forced_down",
    "1 when an operator or a fencing tool forced the host's nova-compute service down"
    " (GET /os-services forced_down), so that its instances may be evacuated.",
    HOST,
)
OPENSTACK_AGENT = (*HOST, "agent_type")
OPENSTACK_AGENT_UP = Family(
    "hypervisor_openstack_agent_up",
    "1 when the Neutron agent of this type on this host is alive (it reported within"
    " Neutron's agent_down_time, 75 s by default; GET /v2.0/agents alive), else 0."
    " agent_type is Neutron's (Open vSwitch agent, Linux bridge agent, DHCP agent, L3"
    " agent, Metadata agent, ...). Absent where the catalog has no network service.",
    OPENSTACK_AGENT,
)
OPENSTACK_AGENT_ADMIN_STATE_UP = Family(
    "hypervisor_openstack_agent_admin_state_up",
    "1 when the Neutron agent is administratively enabled (admin_state_up), 0 when an"
    " operator disabled it.",
    OPENSTACK_AGENT,
)


# --- The exporter itself -----------------------------------------------------------------
TARGET = (T, "kind")
TARGET_UP = Family(
    "hypervisor_target_up",
    "1 when the latest collection of this target succeeded within its timeout, else 0.",
    TARGET,
)
TARGET_SCRAPE_DURATION = Family(
    "hypervisor_target_scrape_duration_seconds",
    "Wall time of the latest collection of this target, cut at its timeout.",
    TARGET,
)
TARGET_COLLECTION_ERRORS = Family(
    "hypervisor_target_collection_errors_total",
    "Collections of this target that failed or timed out since the exporter started.",
    TARGET,
    "counter",
)
TARGET_DUPLICATE_SERIES = Family(
    "hypervisor_target_duplicate_series_dropped_total",
    "Series that collections of this target produced more than once (same family and label"
    " values) since the exporter started; the first of each was kept, the others dropped and"
    " logged with their families. Above 0 means a collector bug or a platform quirk.",
    TARGET,
    "counter",
)
TARGET_LAST_SUCCESS = Family(
    "hypervisor_target_last_success_timestamp_seconds",
    "Unix time the latest successful collection of this target finished.",
    TARGET,
)
BUILD_INFO = Family(
    "hypervisor_exporter_build_info",
    "Always 1; the exporter's version and the Python it runs on.",
    ("version", "python"),
)
CONFIG_LAST_RELOAD_SUCCESSFUL = Family(
    "hypervisor_exporter_config_last_reload_successful",
    "1 when the latest reload (SIGHUP or POST /-/reload) of the config and web config"
    " succeeded, 0 when it was refused and the previous config is still serving. 1 at start.",
    (),
)
CONFIG_LAST_RELOAD_SUCCESS = Family(
    "hypervisor_exporter_config_last_reload_success_timestamp_seconds",
    "Unix time of the latest successful config load: the start, or the latest accepted reload.",
    (),
)
