"""Collectors: one module per platform, all behind the small `Collector` protocol.

A collector turns one configured target into samples. It does its blocking I/O through the
target's `Lane` (worker threads) and keeps the translation from API data to samples in pure
functions of its module, tested on recorded data. The runner around it owns timeouts,
single-flight and the `hypervisor_target_*` families, so collectors only raise on failure.
"""

from __future__ import annotations

import importlib
from typing import Protocol

from exporter.blocking import Lane
from exporter.config import TargetConfig
from exporter.metrics import SampleSet


class Collector(Protocol):
    async def collect(self) -> SampleSet:
        """Collects the target once; raises with a message for on-call when it cannot."""
        ...

    async def close(self) -> None:
        """Releases connections and sessions (vSphere logout); called once at shutdown."""
        ...


# kind -> module under exporter.collectors; imported on first use so that a missing
# optional binding (rados) only affects targets of that kind.
MODULES = {
    "libvirt": "libvirt",
    "vsphere": "vsphere",
    "ceph": "ceph",
    "iscsi": "iscsi",
}

# Worker slots each kind's lane gets (see exporter.blocking). libvirt has two: a call stuck
# on one hung VM holds one, and the next collection still runs in the other, where
# getAllDomainStats' NOWAIT skips the VM whose monitor is busy and reports every other VM.
LANE_SLOTS = {"libvirt": 2, "vsphere": 2, "ceph": 1, "iscsi": 1}


class CollectorFactory(Protocol):
    def __call__(self, target: TargetConfig, lane: Lane) -> Collector: ...


def create_collector(target: TargetConfig, lane: Lane) -> Collector:
    module = importlib.import_module(f"exporter.collectors.{MODULES[target.kind]}")
    factory: CollectorFactory = module.create
    return factory(target, lane)
