"""This machine's own boot time, disk queues and NIC counters, from /proc and /sys.

Not libvirt: a collector of a local hypervisor connection (the host is this machine) reads
them beside its API data, as plain values for its pure translation.
"""

from __future__ import annotations

import contextlib
import os


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
