"""One runner per target: timeouts, single-flight collections and the target's own metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from exporter import families as fam
from exporter.blocking import Lane, WorkerPool
from exporter.collectors import Collector, create_collector, kinds
from exporter.collectors.library import describe
from exporter.logs import scrub
from exporter.metrics import SampleSet
from exporter.targets import TargetConfig

log = logging.getLogger("exporter.runner")
# A blocking call still running this long after its target's timeout gives its worker slot
# back (see exporter.blocking): the next collection can try a fresh connection.
ABANDON_GRACE = 5.0


@dataclass
class CollectionResult:
    samples: SampleSet
    up: bool
    duration: float
    finished_at: float  # unix time
    error: str | None = None


@dataclass
class TargetRunner:
    """Collects one target; concurrent scrapes share the collection in flight."""

    target: TargetConfig
    lane: Lane
    factory: Callable[[TargetConfig, Lane], Collector] = create_collector
    errors_total: int = 0
    duplicates_total: int = 0  # series dropped because a collection produced them twice
    last: CollectionResult | None = None
    last_success: float | None = None
    _collector: Collector | None = field(default=None, repr=False)
    _inflight: asyncio.Future[CollectionResult] | None = field(default=None, repr=False)
    _inflight_started: float = field(default=0.0, repr=False)
    _last_duplicates: int = field(default=0, repr=False)

    @classmethod
    def of(cls, target: TargetConfig, pool: WorkerPool) -> TargetRunner:
        """The runner of `target`, with a lane of as many slots as its kind declares."""
        kind = kinds()[target.kind]
        lane = pool.lane(target.name, kind.slots, target.timeout + ABANDON_GRACE)
        return cls(target, lane, kind.collector)

    async def scrape(self, timeout: float | None = None) -> CollectionResult:
        """The result of a collection that starts now or is already running.

        `timeout` can only shorten the target's own timeout (Prometheus' scrape timeout).
        A scrape that joins a collection in flight keeps its own deadline: when it passes,
        this scrape reads the target down while the collection goes on for the others.
        A caller that goes away (client disconnect) does not cancel the shared collection.
        """
        limit = self.target.timeout if timeout is None else min(timeout, self.target.timeout)
        inflight = self._inflight
        if inflight is None or inflight.done():
            # The collection enforces `limit` itself (and reports the blocked call).
            inflight = self._inflight = asyncio.ensure_future(self._collect(limit))
            self._inflight_started = time.monotonic()
            return await asyncio.shield(inflight)
        try:
            async with asyncio.timeout(limit):
                return await asyncio.shield(inflight)
        except TimeoutError:
            if inflight.done() and not inflight.cancelled():
                return inflight.result()
            running = time.monotonic() - self._inflight_started
            return CollectionResult(
                SampleSet(),
                False,
                limit,
                time.time(),
                f"scrape timeout of {limit:g}s reached while joining a collection running for"
                f" {running:.1f}s; it goes on for the other scrapes",
            )

    async def _collect(self, timeout: float) -> CollectionResult:
        started = time.monotonic()
        error: str | None = None
        samples = SampleSet()
        try:
            async with asyncio.timeout(timeout):
                if self._collector is None:
                    self._collector = self.factory(self.target, self.lane)
                samples = await self._collector.collect()
        except TimeoutError:
            error = f"collection timed out after {timeout:g}s"
            blocked = self.lane.oldest_call()
            if blocked:
                error += f"; {blocked[0]} has been blocked for {blocked[1]:.0f}s"
        except asyncio.CancelledError:
            raise
        except Exception as err:  # any failure of one target must not affect the others
            error = scrub(describe(err))
            log.debug(
                "collection failed", exc_info=True, extra={"fields": {"target": self.target.name}}
            )
        duration = time.monotonic() - started
        now = time.time()
        if error is None:
            self.last_success = now
            self._count_duplicates(samples)
        else:
            self.errors_total += 1
            samples = SampleSet()
            log.warning(
                "collection failed",
                extra={
                    "fields": {
                        "target": self.target.name,
                        "kind": self.target.kind,
                        "reason": error,
                    }
                },
            )
        self.last = CollectionResult(samples, error is None, duration, now, error)
        return self.last

    def _count_duplicates(self, samples: SampleSet) -> None:
        """Counts the series a collection produced twice; logs when their number changes
        (once for a lasting condition, not every scrape)."""
        self.duplicates_total += samples.duplicates
        if samples.duplicates != self._last_duplicates and samples.duplicates:
            log.warning(
                "duplicate series dropped",
                extra={
                    "fields": {
                        "target": self.target.name,
                        "kind": self.target.kind,
                        "series": samples.duplicates,
                        "families": ",".join(sorted(samples.duplicated)),
                    }
                },
            )
        self._last_duplicates = samples.duplicates

    def own_samples(self, result: CollectionResult | None = None) -> SampleSet:
        """The hypervisor_target_* series of this target, from `result` (what this scrape
        got) or else its latest collection."""
        out = SampleSet()
        labels = {"target": self.target.name, "kind": self.target.kind}
        last = result or self.last
        out.add(fam.TARGET_UP, 1.0 if last and last.up else 0.0, **labels)
        if last is not None:
            out.add(fam.TARGET_SCRAPE_DURATION, last.duration, **labels)
        out.add(fam.TARGET_COLLECTION_ERRORS, float(self.errors_total), **labels)
        out.add(fam.TARGET_DUPLICATE_SERIES, float(self.duplicates_total), **labels)
        if self.last_success is not None:
            out.add(fam.TARGET_LAST_SUCCESS, self.last_success, **labels)
        return out

    async def close(self) -> None:
        if self._collector is not None:
            try:
                async with asyncio.timeout(5):
                    await self._collector.close()
            except Exception as err:
                log.warning(
                    "closing collector failed",
                    extra={"fields": {"target": self.target.name, "reason": scrub(str(err))}},
                )
