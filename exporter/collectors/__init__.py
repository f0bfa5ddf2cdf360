"""Collectors: one module (or package) per kind of target, each declaring its `Kind`.

A collector turns one configured target into samples. It does its blocking I/O through the
target's `Lane` (worker threads) and keeps the translation from API data to samples in pure
functions, tested on recorded data. The runner around it owns timeouts, single-flight and
the `hypervisor_target_*` families, so collectors only raise on failure.

Each kind's module declares everything the exporter needs to know about the kind in one
record, `KIND = Kind(config=..., create=..., slots=...)`: the config parser, the runner and
the HTTP server all read it from `kinds()`. Adding a kind is one new module and one entry in
`KIND_MODULES`. The modules import their blocking library (libvirt, pyVmomi, librados) only
when a collection needs it, so reading the kinds costs no binding and a missing one only
breaks the targets of its kind.
"""

from __future__ import annotations

import dataclasses
import importlib
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from exporter.blocking import Lane
from exporter.metrics import SampleSet
from exporter.targets import Secret, TargetConfig, field_types

# The modules under exporter.collectors that declare a kind: the one line to add a kind.
KIND_MODULES = ("libvirt", "vsphere", "ceph", "iscsi", "openstack")


class Collector(Protocol):
    async def collect(self) -> SampleSet:
        """Collects the target once; raises with a message for on-call when it cannot."""
        ...

    async def close(self) -> None:
        """Releases connections and sessions (vSphere logout); called once at shutdown."""
        ...


T = TypeVar("T", bound=TargetConfig)


@dataclass(frozen=True)
class Kind(Generic[T]):
    """One kind of target, as its collector module declares it.

    `config`: the frozen dataclass of its keys (its `kind` class variable is the name used
    in the config and in the `kind` label). `create`: makes the collector of one target.
    `slots`: worker threads of each target's lane (see exporter.blocking): 2 where one
    call stuck on a hung object must not stop the next collection, else 1.
    """

    config: type[T]
    create: Callable[[T, Lane], Collector]
    slots: int = 1

    def __post_init__(self) -> None:
        if not self.config.kind:
            raise ValueError(f"{self.config.__name__} has no kind name")
        if self.slots < 1:
            raise ValueError(f"kind {self.config.kind}: slots must be at least 1")

    @property
    def name(self) -> str:
        return self.config.kind

    @property
    def secrets(self) -> tuple[str, ...]:
        """The config's `Secret` fields; each is given as F, F_file or F_env."""
        hints = field_types(self.config)
        return tuple(
            f.name
            for f in dataclasses.fields(self.config)
            if Secret in (hints[f.name], *typing.get_args(hints[f.name]))
        )

    def collector(self, target: TargetConfig, lane: Lane) -> Collector:
        if not isinstance(target, self.config):
            raise TypeError(f"kind {self.name} collects {self.config.__name__}, not {target!r}")
        return self.create(target, lane)


_registered: dict[str, Kind[Any]] = {}


def kinds() -> dict[str, Kind[Any]]:
    """Every kind by name: the `KIND` of each module in KIND_MODULES, then any registered."""
    found: dict[str, Kind[Any]] = {}
    for module in KIND_MODULES:
        kind: Kind[Any] = importlib.import_module(f"{__name__}.{module}").KIND
        if kind.name in found:
            raise ValueError(f"{module} declares kind {kind.name} a second time")
        found[kind.name] = kind
    found.update(_registered)
    return found


def register(kind: Kind[Any]) -> None:
    """Adds a kind declared outside KIND_MODULES (a test's fake kind)."""
    if kind.name in kinds():
        raise ValueError(f"kind {kind.name} is already registered")
    _registered[kind.name] = kind


def unregister(kind: Kind[Any]) -> None:
    _registered.pop(kind.name, None)


def create_collector(target: TargetConfig, lane: Lane) -> Collector:
    return kinds()[target.kind].collector(target, lane)
