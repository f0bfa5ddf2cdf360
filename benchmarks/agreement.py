"""Side by side with the exporters operators run today: every fact both report agrees.

    .venv/bin/python -m benchmarks.agreement [--only libvirt,vsphere,ceph]

One peer per platform, scraped by ours and by the incumbent within the same second:

- libvirt: Debian's prometheus-libvirt-exporter 0.2.0 (kumina) and ours on one libvirt
  test-driver node (each process opens its own copy of the node file, so UUIDs differ:
  domains are matched by name; the driver's block and interface counters follow the wall
  clock, so those compare within 1e-6 relative).
- vSphere: vmware-exporter 0.18.4 (its own venv, see benchmarks/vsphere.py) and ours on the
  project's vCenter simulator with realtime samples injected for one VM.
- Ceph: the ceph-mgr prometheus module and ours on a throwaway cluster (harness/ceph.py),
  the module's cache refreshed every second.

Prints one Markdown table: fact, their series, ours, how many series were compared, how
many only ours has (the libvirt exporter lists active domains only), and whether every
one agreed. A series of theirs that ours lacks is a disagreement. Exits 1 if any fact
disagrees.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.vsphere import Incumbent, ensure_incumbent
from harness.ceph import CephCluster
from harness.exporter import Exporter
from harness.exposition import parse
from harness.process import Peer, free_port, running, wait_until
from harness.vcsim import Vcsim

Series = dict[tuple[str, ...], float]
Key = Callable[[dict[str, str]], tuple[str, ...] | None]


@dataclass
class Fact:
    what: str
    theirs: str  # their family
    ours: str  # our family
    their_key: Key
    our_key: Key
    scale: float = 1.0  # ours = theirs x scale
    rel: float = 0.0  # relative tolerance
    sum_theirs: bool = False  # theirs is split (per pool) where ours is one total
    our_filter: Callable[[dict[str, str], float], bool] = lambda _labels, _value: True


@dataclass
class Result:
    platform: str
    fact: Fact
    compared: int
    only_ours: int  # series ours has and theirs does not (e.g. shut-off VMs)
    mismatches: list[str]


def pick(
    text: str,
    family: str,
    key: Key,
    keep: Callable[..., bool] = lambda *_: True,
    add_up: bool = False,
) -> Series:
    out: Series = {}
    for labels, value in parse(text).get(family, []):
        k = key(labels)
        if k is not None and keep(labels, value):
            out[k] = out.get(k, 0.0) + value if add_up else value
    return out


def compare(platform: str, fact: Fact, theirs_text: str, ours_text: str) -> Result:
    theirs = pick(theirs_text, fact.theirs, fact.their_key, add_up=fact.sum_theirs)
    ours = pick(ours_text, fact.ours, fact.our_key, fact.our_filter)
    problems = []
    for key in sorted(theirs.keys()):
        if key not in ours:
            problems.append(f"{key} missing from ours")
            continue
        want = theirs[key] * fact.scale
        if not math.isclose(ours[key], want, rel_tol=fact.rel, abs_tol=1e-9):
            problems.append(f"{key}: theirs {want}, ours {ours[key]}")
    if not theirs:
        problems.append(f"no {fact.theirs} series")
    return Result(
        platform, fact, len(theirs.keys() & ours.keys()), len(ours.keys() - theirs.keys()), problems
    )


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=120) as response:
        text: str = response.read().decode()
        return text


# --- libvirt -------------------------------------------------------------------------------
def by(*names: str) -> Key:
    return lambda labels: tuple(labels.get(n, "") for n in names)


LIBVIRT_FACTS = [
    Fact(
        "vCPUs",
        "libvirt_domain_info_virtual_cpus",
        "hypervisor_vm_vcpus",
        by("domain"),
        by("vm"),
    ),
    Fact(
        "configured memory (bytes)",
        "libvirt_domain_info_maximum_memory_bytes",
        "hypervisor_vm_memory_bytes",
        by("domain"),
        by("vm"),
    ),
    Fact(
        "CPU time (seconds)",
        "libvirt_domain_info_cpu_time_seconds_total",
        "hypervisor_vm_cpu_seconds_total",
        by("domain"),
        by("vm"),
        rel=1e-6,
    ),
    *(
        Fact(
            f"disk {what} bytes",
            f"libvirt_domain_block_stats_{what}_bytes_total",
            f"hypervisor_vm_disk_{what}_bytes_total",
            by("domain", "target_device"),
            by("vm", "disk"),
            rel=1e-6,
        )
        for what in ("read", "write")
    ),
    *(
        Fact(
            f"interface {direction} {what}",
            f"libvirt_domain_interface_stats_{direction}_{what}_total",
            f"hypervisor_vm_network_{direction}_{what}_total",
            by("domain", "target_device"),
            by("vm", "interface"),
            rel=1e-6,
        )
        for direction in ("receive", "transmit")
        for what in ("bytes", "packets", "drops")
    ),
    Fact(
        "state (virDomainState 1 running, 3 paused)",
        "libvirt_domain_state_code",
        "hypervisor_vm_power_state",
        by("domain"),
        by("vm"),
        # Theirs is the state code of active domains; ours the state set, turned into the
        # same code for the state ours marks 1 (run_libvirt).
    ),
]
STATE_CODES = {"running": 1.0, "paused": 3.0}

NODE_DOMAINS = {  # name: (virDomainState, vCPUs, memory KiB)
    "web": (1, 2, 524288),
    "db": (1, 4, 2097152),
    "batch": (3, 1, 262144),
    "old": (5, 1, 131072),
}


def libvirt_node(path: Path) -> str:
    body = "".join(
        f"""
  <domain type="test"><name>{name}</name><memory unit="KiB">{kib}</memory>
    <vcpu>{vcpus}</vcpu><os><type>hvm</type></os>
    <devices>
      <disk type="file" device="disk"><source file="/pool/{name}.qcow2"/>
        <target dev="vda" bus="virtio"/></disk>
      <interface type="network"><mac address="52:54:00:00:00:0{index}"/>
        <source network="default"/></interface>
    </devices>
    <test:runstate>{state}</test:runstate></domain>"""
        for index, (name, (state, vcpus, kib)) in enumerate(NODE_DOMAINS.items())
    )
    path.write_text(
        '<node xmlns:test="http://libvirt.org/schemas/domain/test/1.0">'
        "<cpu><mhz>2400</mhz><model>x86_64</model><active>8</active><nodes>1</nodes>"
        "<sockets>1</sockets><cores>4</cores><threads>2</threads></cpu>"
        f"<memory>8192000</memory>{body}\n</node>\n"
    )
    return f"test://{path}"


class LibvirtExporter(Peer):
    def __init__(self, uri: str, workdir: Path) -> None:
        self.port = free_port()
        super().__init__(
            f"libvirt-exporter-{self.port}",
            [
                "prometheus-libvirt-exporter",
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--libvirt.uri={uri}",
            ],
            workdir,
        )
        self.url = f"http://127.0.0.1:{self.port}/metrics"

    def ready(self) -> bool:
        try:
            return "libvirt_up 1" in get(self.url)
        except OSError:
            return False


def run_libvirt(workdir: Path) -> list[Result]:
    uri = libvirt_node(workdir / "node.xml")
    with (
        running(
            Exporter({"targets": [{"name": "lv", "kind": "libvirt", "uri": uri}]}, workdir)
        ) as ours,
        running(LibvirtExporter(uri, workdir)) as theirs,
    ):
        theirs.wait_ready(theirs.ready, 30)
        ours_text, theirs_text = ours.metrics(), get(theirs.url)
    results = []
    for fact in LIBVIRT_FACTS:
        if fact.ours == "hypervisor_vm_power_state":
            ours_text_states = "".join(
                f'hypervisor_vm_power_state{{vm="{labels["vm"]}",state="{labels["state"]}"}}'
                f" {STATE_CODES[labels['state']]}\n"
                for labels, value in parse(ours_text)["hypervisor_vm_power_state"]
                if value == 1 and labels["state"] in STATE_CODES
            )
            results.append(compare("libvirt", fact, theirs_text, ours_text_states))
        else:
            results.append(compare("libvirt", fact, theirs_text, ours_text))
    return results


# --- vSphere -------------------------------------------------------------------------------
# The simulator answers realtime counters it has no injected value for with random noise
# per query: the two exporters' queries would differ. Those facts are compared on the VMs
# with injected samples.
INJECTED = ("DC0_C0_RP0_VM0", "DC0_H0_VM1")


def injected(name: str) -> Key:
    return lambda labels: (labels[name],) if labels.get(name) in INJECTED else None


VSPHERE_FACTS = [
    Fact("VM vCPUs", "vmware_vm_num_cpu", "hypervisor_vm_vcpus", by("vm_name"), by("vm")),
    Fact(
        "VM configured memory (theirs MB)",
        "vmware_vm_memory_max",
        "hypervisor_vm_memory_bytes",
        by("vm_name"),
        by("vm"),
        scale=1024**2,
    ),
    Fact(
        "VM powered on",
        "vmware_vm_power_state",
        "hypervisor_vm_power_state",
        by("vm_name"),
        by("vm"),
        our_filter=lambda labels, _value: labels["state"] == "running",
    ),
    Fact(
        "VM CPU usage (theirs percent x 100; injected VMs)",
        "vmware_vm_cpu_usage_average",
        "hypervisor_vm_cpu_usage_ratio",
        injected("vm_name"),
        injected("vm"),
        scale=1 / 10000,
    ),
    Fact(
        "VM consumed memory (theirs KiB; injected VMs)",
        "vmware_vm_mem_consumed_average",
        "hypervisor_vm_memory_used_bytes",
        injected("vm_name"),
        injected("vm"),
        scale=1024,
    ),
    Fact(
        "host CPU capacity (theirs MHz)",
        "vmware_host_cpu_max",
        "hypervisor_host_cpu_capacity_hertz",
        by("host_name"),
        by("host"),
        scale=1e6,
    ),
    Fact(
        "host memory (theirs MB)",
        "vmware_host_memory_max",
        "hypervisor_host_memory_bytes",
        by("host_name"),
        by("host"),
        scale=1024**2,
    ),
    Fact(
        "datastore capacity",
        "vmware_datastore_capacity_size",
        "hypervisor_datastore_capacity_bytes",
        by("ds_name"),
        by("datastore"),
    ),
    Fact(
        "datastore free (disk-backed: 1e-3)",
        "vmware_datastore_freespace_size",
        "hypervisor_datastore_free_bytes",
        by("ds_name"),
        by("datastore"),
        rel=1e-3,
    ),
    Fact(
        "datastore provisioned (1e-3)",
        "vmware_datastore_provisoned_size",
        "hypervisor_datastore_provisioned_bytes",
        by("ds_name"),
        by("datastore"),
        rel=1e-3,
    ),
    Fact(
        "datastore VMs",
        "vmware_datastore_vms",
        "hypervisor_datastore_vms",
        by("ds_name"),
        by("datastore"),
    ),
]


def vmware_answers(url: str) -> bool:
    try:
        return "vmware_vm_num_cpu" in get(url)
    except OSError:
        return False


def run_vsphere(workdir: Path) -> list[Result]:
    ensure_incumbent()
    sim = Vcsim(workdir / "vcsim", clusters=1, hosts=2, standalone=1, vms=3)
    try:
        # Realtime samples both ask for (theirs: aggregate instance; ours the same).
        for vm in INJECTED:
            sim.inject_perf(vm, "cpu.usage.average", "", 2500)
            sim.inject_perf(vm, "mem.consumed.average", "", 524288)
        address = sim.address
        with (
            running(Exporter({"targets": [sim.target("vc")]}, workdir)) as ours,
            running(Incumbent(sim, workdir, address)) as theirs,
        ):
            theirs.wait_ready(lambda: vmware_answers(theirs.url), 120)
            theirs_text = get(theirs.url)
            ours_text = ours.metrics()
    finally:
        sim.stop()
    return [compare("vSphere", fact, theirs_text, ours_text) for fact in VSPHERE_FACTS]


# --- Ceph ----------------------------------------------------------------------------------
CEPH_FACTS = [
    Fact(
        "health (0 OK, 1 WARN, 2 ERR)",
        "ceph_health_status",
        "hypervisor_ceph_health_status",
        by(),
        by(),
    ),
    Fact("OSD up", "ceph_osd_up", "hypervisor_ceph_osd_up", by("ceph_daemon"), by("osd")),
    Fact("OSD in", "ceph_osd_in", "hypervisor_ceph_osd_in", by("ceph_daemon"), by("osd")),
    Fact(
        "pool stored bytes",
        "ceph_pool_stored",
        "hypervisor_ceph_pool_stored_bytes",
        by("pool_id"),
        by("pool"),
    ),
    Fact(
        "pool available bytes",
        "ceph_pool_max_avail",
        "hypervisor_ceph_pool_available_bytes",
        by("pool_id"),
        by("pool"),
    ),
    Fact(
        "pool objects",
        "ceph_pool_objects",
        "hypervisor_ceph_pool_objects",
        by("pool_id"),
        by("pool"),
    ),
    Fact(
        "degraded objects",
        "ceph_num_objects_degraded",
        "hypervisor_ceph_objects_degraded",
        by(),
        by(),
    ),
    Fact(
        "misplaced objects",
        "ceph_num_objects_misplaced",
        "hypervisor_ceph_objects_misplaced",
        by(),
        by(),
    ),
    Fact(
        "noout flag",
        "ceph_osd_flag_noout",
        "hypervisor_ceph_osd_flag",
        by(),
        by(),
        our_filter=lambda labels, _value: labels["flag"] == "noout",
    ),
    Fact(
        "placement groups (theirs per pool, summed)",
        "ceph_pg_total",
        "hypervisor_ceph_pgs",
        by(),
        by(),
        sum_theirs=True,
    ),
    Fact("raw capacity", "ceph_cluster_total_bytes", "hypervisor_ceph_capacity_bytes", by(), by()),
]


def pool_names(text: str) -> dict[str, str]:
    return {
        labels["pool_id"]: labels["name"] for labels, _ in parse(text).get("ceph_pool_metadata", [])
    }


def run_ceph(workdir: Path) -> list[Result]:
    cluster = CephCluster(workdir / "ceph")
    cluster.start()
    try:
        port = free_port()
        for key, value in (
            ("server_addr", "127.0.0.1"),
            ("server_port", str(port)),
            ("scrape_interval", "1"),
        ):
            cluster.ceph("config", "set", "mgr", f"mgr/prometheus/{key}", value, "--force")
        cluster.ceph("mgr", "module", "enable", "prometheus", "--force")
        url = f"http://127.0.0.1:{port}/metrics"

        def module_up() -> bool:
            try:
                return "ceph_health_status" in get(url)
            except OSError:
                return False

        wait_until(module_up, 90, "the ceph-mgr prometheus module")
        cluster.ceph("osd", "set", "noout")  # a flag to compare, set as for maintenance
        time.sleep(3)  # the module's cache and the monitors' digest catch up
        config = {"targets": [{"name": "ceph", "kind": "ceph", "conf": str(cluster.conf)}]}
        with running(Exporter(config, workdir)) as ours:
            theirs_text, ours_text = get(url), ours.metrics()
    finally:
        cluster.stop()
    names = pool_names(theirs_text)

    def pool_name(labels: dict[str, str]) -> tuple[str, ...]:
        # Theirs labels pools by id; ceph_pool_metadata maps ids to the names ours uses.
        return (names.get(labels["pool_id"], "?"),)

    results = []
    for fact in CEPH_FACTS:
        if fact.theirs.startswith("ceph_pool_"):
            fact.their_key = pool_name
        results.append(compare("Ceph", fact, theirs_text, ours_text))
    return results


RUNS: dict[str, Callable[[Path], list[Result]]] = {
    "libvirt": run_libvirt,
    "vsphere": run_vsphere,
    "ceph": run_ceph,
}
INCUMBENTS = {
    "libvirt": "prometheus-libvirt-exporter 0.2.0 (Debian)",
    "vSphere": "vmware-exporter 0.18.4",
    "Ceph": "ceph-mgr prometheus module (Ceph 16.2)",
}


@contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="agreement-") as tmp:
        yield Path(tmp)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default=",".join(RUNS))
    args = parser.parse_args()
    results: list[Result] = []
    for name in args.only.split(","):
        with workdir() as tmp:
            results += RUNS[name](tmp)
    print("| platform | fact | theirs | ours | series compared | only ours | agree |")
    print("|---|---|---|---|---:|---:|---|")
    for r in results:
        agree = "yes" if not r.mismatches else "**no**: " + "; ".join(r.mismatches[:3])
        print(
            f"| {r.platform} | {r.fact.what} | `{r.fact.theirs}` | `{r.fact.ours}` |"
            f" {r.compared} | {r.only_ours} | {agree} |"
        )
    print()
    for platform, incumbent in INCUMBENTS.items():
        if any(r.platform == platform for r in results):
            print(f"- {platform}: {incumbent}")
    return 0 if all(not r.mismatches for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
