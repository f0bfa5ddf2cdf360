"""Single-flight collections, timeouts and bounded worker threads, on a controllable collector.

These exercise the runner itself; every collector is also tested against its real peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable

import pytest

from exporter import families as fam
from exporter.blocking import Lane, WorkerPool
from exporter.collectors.libvirt import LibvirtTarget
from exporter.metrics import SampleSet
from exporter.runner import TargetRunner
from exporter.targets import TargetConfig


class GatedCollector:
    """Each collection blocks a worker thread until `gate` is set; counts collections."""

    def __init__(self, lane: Lane) -> None:
        self.lane = lane
        self.gate = threading.Event()
        self.collections = 0
        self.threads_started = 0

    def _blocking(self) -> None:
        self.threads_started += 1
        self.gate.wait(10)

    async def collect(self) -> SampleSet:
        self.collections += 1
        await self.lane.run(self._blocking)
        out = SampleSet()
        out.add(fam.HOST_MAINTENANCE_MODE, 0, target="t", host="h")
        return out

    async def close(self) -> None:
        self.gate.set()


def runner_with(timeout: float) -> tuple[TargetRunner, list[GatedCollector]]:
    pool = WorkerPool()
    made: list[GatedCollector] = []

    def factory(_: TargetConfig, lane: Lane) -> GatedCollector:
        made.append(GatedCollector(lane))
        return made[-1]

    target = LibvirtTarget(name="t", uri="test:///default", timeout=timeout)
    return TargetRunner(target, pool.lane("t"), factory), made


async def test_concurrent_scrapes_share_one_collection() -> None:
    runner, made = runner_with(timeout=5)
    scrapes = [asyncio.create_task(runner.scrape()) for _ in range(10)]
    await asyncio.sleep(0.2)
    made[0].gate.set()
    results = await asyncio.gather(*scrapes)
    assert made[0].collections == 1
    assert all(r is results[0] for r in results)
    assert results[0].up
    own = runner.own_samples()
    assert own.value(fam.TARGET_UP, target="t", kind="libvirt") == 1


async def test_hung_call_is_cut_and_holds_only_its_own_thread() -> None:
    runner, made = runner_with(timeout=0.3)
    first = await runner.scrape()
    assert not first.up and first.error and "timed out after 0.3s" in first.error
    # The thread is still stuck; the next scrapes wait for its slot instead of starting
    # more threads on the hung peer, and say which call is blocked.
    second = await runner.scrape()
    third = await runner.scrape()
    assert made[0].threads_started == 1
    assert second.error and "_blocking has been blocked for" in second.error
    assert not third.up
    assert runner.errors_total == 3
    assert runner.own_samples().value(fam.TARGET_UP, target="t", kind="libvirt") == 0
    # Once the peer answers again the target recovers.
    made[0].gate.set()
    await asyncio.sleep(0.1)
    recovered = await runner.scrape()
    assert recovered.up
    assert runner.own_samples().value(fam.TARGET_UP, target="t", kind="libvirt") == 1


async def test_client_going_away_does_not_cancel_the_shared_collection() -> None:
    runner, made = runner_with(timeout=5)
    impatient = asyncio.create_task(runner.scrape())
    patient = asyncio.create_task(runner.scrape())
    await asyncio.sleep(0.1)
    impatient.cancel()
    made[0].gate.set()
    result = await patient
    assert result.up and made[0].collections == 1


async def test_a_scrape_timeout_shorter_than_the_target_timeout_wins() -> None:
    runner, _ = runner_with(timeout=30)
    result = await runner.scrape(timeout=0.2)
    assert not result.up and result.error and "after 0.2s" in result.error


async def test_failing_collector_construction_is_a_down_target() -> None:
    def broken(_: TargetConfig, __: Lane) -> GatedCollector:
        raise RuntimeError("rados binding missing: install python3-rados")

    target = LibvirtTarget(name="t", uri="test:///default")
    runner = TargetRunner(target, WorkerPool().lane("t"), broken)
    result = await runner.scrape()
    assert not result.up and result.error == "rados binding missing: install python3-rados"


async def test_a_scrape_joining_a_collection_keeps_its_own_deadline() -> None:
    runner, made = runner_with(timeout=30)
    first = asyncio.create_task(runner.scrape(timeout=5))
    await asyncio.sleep(0.05)
    started = asyncio.get_running_loop().time()
    joined = await runner.scrape(timeout=0.3)
    took = asyncio.get_running_loop().time() - started
    # Answered by its own deadline, down in its own answer...
    assert not joined.up and joined.error and "scrape timeout of 0.3s" in joined.error
    assert took < 1
    assert runner.own_samples(joined).value(fam.TARGET_UP, target="t", kind="libvirt") == 0
    # ...while the shared collection goes on for the scrape that started it.
    made[0].gate.set()
    assert (await first).up
    assert made[0].collections == 1 and runner.errors_total == 0


async def until(check: Callable[[], bool], within: float) -> None:
    """Polls `check` every 10 ms until it holds; fails after `within` seconds."""
    async with asyncio.timeout(within):
        while not check():
            await asyncio.sleep(0.01)


async def test_a_call_hung_past_its_grace_gives_its_slot_back_boundedly() -> None:
    grace = 0.2
    lane = Lane("t", slots=1, abandon_after=grace, max_abandoned=2)
    gate = threading.Event()
    began = time.monotonic()
    hung = [asyncio.ensure_future(lane.run(gate.wait, 120)) for _ in range(3)]
    await asyncio.sleep(0.05)
    assert lane.busy == 1  # one slot: the others wait...
    # ...until the running call is past its grace, and never before: its slot comes back
    # no sooner than `grace` after it started, however late this loop gets to look.
    await until(lambda: lane.abandoned >= 1, within=100 * grace)
    assert time.monotonic() - began >= grace
    # Two threads are left behind, the bound, and the third call holds the slot for good.
    # The wait is bounded only so that a slot never given back fails rather than hangs;
    # a loaded machine only makes it come later.
    await until(lambda: lane.abandoned == 2, within=100 * grace)
    assert lane.busy == 1
    # Past the bound nothing more is given back: the third call's grace ends well within
    # this wait (the event loop fires the earlier deadline first, loaded or not), and
    # still the lane stays held.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(3 * grace):
            await lane.run(lambda: None)
        raise AssertionError("the lane must stay held at its bound")
    assert lane.abandoned == 2 and lane.busy == 1
    gate.set()  # the peer answers: every thread returns, the slots are free again
    await asyncio.gather(*hung)
    assert lane.abandoned == 0 and lane.busy == 0
    assert await lane.run(lambda: 42) == 42


class DuplicatingCollector:
    """Produces `twice` series twice per collection, as a collector bug would."""

    def __init__(self) -> None:
        self.twice = 2

    async def collect(self) -> SampleSet:
        out = SampleSet()
        for _ in range(2):
            for vm in range(self.twice):
                out.add(fam.VM_AUTOSTART_ENABLED, 1, target="t", host="h", vm=f"vm{vm}")
        out.add(fam.HOST_MAINTENANCE_MODE, 0, target="t", host="h")
        return out

    async def close(self) -> None:
        return None


async def test_duplicate_series_are_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    collector = DuplicatingCollector()
    target = LibvirtTarget(name="t", uri="test:///default")
    runner = TargetRunner(target, WorkerPool().lane("t"), lambda _t, _l: collector)
    labels = {"target": "t", "kind": "libvirt"}
    assert runner.own_samples().value(fam.TARGET_DUPLICATE_SERIES, **labels) == 0
    with caplog.at_level(logging.WARNING, logger="exporter.runner"):
        for _ in range(3):
            result = await runner.scrape()
            assert result.up and len(result.samples) == 3
        collector.twice = 1
        await runner.scrape()
    assert runner.own_samples().value(fam.TARGET_DUPLICATE_SERIES, **labels) == 2 * 3 + 1
    logged = [r for r in caplog.records if r.getMessage() == "duplicate series dropped"]
    # Once when duplicates appear, once when their number changes; not every scrape.
    assert [r.__dict__["fields"]["series"] for r in logged] == [2, 1]
    assert logged[0].__dict__["fields"]["families"] == "hypervisor_vm_autostart_enabled"
