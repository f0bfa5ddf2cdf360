"""The vSphere collector: one collection is the inventory (kept across collections and
brought up to date with vCenter's changes, see inventory.py) and the latest perf samples
(batched QueryPerf calls, spread over the lane's two slots), read into a `Snapshot` and
turned into samples."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from exporter.blocking import Lane
from exporter.collectors.library import describe
from exporter.collectors.start_failures import StartFailures
from exporter.collectors.vsphere.events import EventReader, VmFailureEvent, record_events
from exporter.collectors.vsphere.inventory import Inventory
from exporter.collectors.vsphere.samples import (
    KeptCapacity,
    Labelled,
    Objects,
    PerfData,
    Snapshot,
    add_perf_samples,
    inventory_samples,
    perf_targets,
)
from exporter.collectors.vsphere.session import (
    LoginError,
    Session,
    is_not_authenticated,
    query_perf,
)
from exporter.collectors.vsphere.target import VsphereTarget
from exporter.metrics import SampleSet

log = logging.getLogger("exporter.collectors.vsphere")

PERF_BATCH = 250  # entities per QueryPerf call: bounded answers, spread over the lane's slots


def _batches(entities: list[tuple[str, bool]]) -> list[list[tuple[str, bool]]]:
    return [entities[i : i + PERF_BATCH] for i in range(0, len(entities), PERF_BATCH)]


class VsphereCollector:
    def __init__(self, target: VsphereTarget, lane: Lane) -> None:
        self.target = target
        self.lane = lane
        self.session = Session(target)
        self.inventory = Inventory()  # kept across collections, updated from vCenter's changes
        # (moid, is host) QueryPerf'd by the previous collection
        self._perf_plan: list[tuple[str, bool]] = []
        # capacity samples of running VMs, re-read every target.capacity_interval seconds
        self.capacity = KeptCapacity(target.capacity_interval)
        self.events = EventReader(target.start_failure_window)
        self.failures: StartFailures[str] = StartFailures(target.start_failure_window)
        self._labelled: Labelled | None = None  # the inventory's samples, while it is unchanged

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

    async def _retrieve(self) -> Objects:
        try:
            return await self.lane.run(self.inventory.read, self.session)
        except Exception as err:
            if not is_not_authenticated(err):
                raise
            # The session expired or vCenter restarted: log in again, once.
            log.info(
                "vSphere session no longer valid, logging in again",
                extra={"fields": {"target": self.target.name}},
            )
            self.session.drop()
            return await self.lane.run(self.inventory.read, self.session)

    async def _perf(
        self, batch: list[tuple[str, bool]], now: float
    ) -> tuple[set[str], PerfData | Exception]:
        """One QueryPerf batch, its VMs due asked the capacity counters too: (those VMs,
        the answer). A failure is returned, not raised, so that the other batches and the
        inventory still count."""
        hosts = [e for e, is_host in batch if is_host]
        vms = [e for e, is_host in batch if not is_host]
        capacity = self.capacity.due(vms, now)
        try:
            return capacity, await self.lane.run(query_perf, self.session, hosts, vms, capacity)
        except Exception as err:
            return capacity, err

    async def read_snapshot(self) -> Snapshot:
        """Inventory and perf samples. The perf queries for the entities of the previous
        collection start at once, beside the property retrieval (the lane has two slots),
        so a collection takes about the longer of the two, not their sum; entities new
        since then are queried after the retrieval, and samples of entities no longer
        eligible are dropped. VMs whose capacity samples are not due are served the kept
        ones (`KeptCapacity`)."""
        previous = self._perf_plan
        now = time.monotonic()
        tasks: list[asyncio.Future[Any]] = []
        try:
            retrieval = asyncio.ensure_future(self._retrieve())
            tasks.append(retrieval)
            events = asyncio.ensure_future(self._events())
            tasks.append(events)
            early = [asyncio.ensure_future(self._perf(b, now)) for b in _batches(previous)]
            tasks += early
            objects = await retrieval
            snap = Snapshot(objects)
            hosts, vms = perf_targets(snap)
            plan = [(h, True) for h in hosts] + [(v, False) for v in vms]
            known = set(previous)
            late = [
                asyncio.ensure_future(self._perf(b, now))
                for b in _batches([e for e in plan if e not in known])
            ]
            tasks += late
            answers = list(await asyncio.gather(*early))
            # Batches that failed early (e.g. on the session the retrieval replaced) run
            # once more, for the entities still wanted.
            current = set(plan)
            retry = [
                e
                for batch, (_, answer) in zip(_batches(previous), answers, strict=True)
                if isinstance(answer, Exception)
                for e in batch
                if e in current
            ]
            if retry:
                answers = [a for a in answers if not isinstance(a[1], Exception)]
                again = [asyncio.ensure_future(self._perf(b, now)) for b in _batches(retry)]
                tasks += again
                late += again
            answers += await asyncio.gather(*late)
            record_events(self.failures, await events)
        finally:
            for task in tasks:  # on timeout or failure, nothing keeps running
                task.cancel()
        wanted = set(hosts) | set(vms)
        asked: set[str] = set()
        for capacity, answer in answers:
            if isinstance(answer, Exception):
                if is_not_authenticated(answer):
                    raise answer
                # Samples are the lesser part: keep inventory and state, say what is missing.
                log.warning(
                    "QueryPerf failed, window families missing for some entities",
                    extra={"fields": {"target": self.target.name, "reason": describe(answer)}},
                )
                continue
            asked |= capacity
            snap.perf.update((k, v) for k, v in answer.items() if k in wanted)
        self.capacity.update(snap.perf, set(vms), asked, now)
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
        samples = self.samples_of(snap)
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

    def samples_of(self, snap: Snapshot) -> SampleSet:
        """`snapshot_samples(target, snap)`. While vCenter reports no change to the
        inventory (the steady state), its samples are the last collection's: only those of
        perf data and start failures are made anew."""
        labelled = self._labelled
        if labelled is None or not labelled.made_from(snap.objects):
            labelled = self._labelled = inventory_samples(self.target.name, snap.objects)
        return add_perf_samples(labelled, snap)

    async def close(self) -> None:
        await self.lane.run(self.session.logout)
