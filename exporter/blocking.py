"""Blocking library calls (libvirt, pyvmomi, librados) in worker threads, bounded per target.

A thread stuck in a hung API call cannot be cancelled. Each target therefore gets a lane
with a fixed number of worker slots, so a hung target holds at most its own slots and never
the threads other targets use. Each call runs in a daemon thread of its own lane (threads
are cheap next to a network call), so lanes come and go with targets on reload, and a
thread hung in a library call never keeps the process from exiting.

Some library calls have no bound at all (libvirt's open on a peer that accepts and never
answers). A call still running `abandon_after` seconds after it started gives its slot
back, so the next collection can try a fresh connection, while its thread stays (it may
return some day); at most `max_abandoned` such threads per lane, after that the slots stay
held and the target reads down until one returns: threads cannot pile up.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class WorkerPool:
    """The lanes of the process, by target name; lanes may be added and removed any time."""

    def __init__(self) -> None:
        self.lanes: dict[str, Lane] = {}

    def lane(self, name: str, slots: int = 1, abandon_after: float | None = None) -> Lane:
        lane = Lane(name, slots, abandon_after)
        self.lanes[name] = lane
        return lane

    def remove(self, lane: Lane) -> None:
        """Forgets a lane; its threads still running finish (or hang) on their own."""
        if self.lanes.get(lane.name) is lane:
            del self.lanes[lane.name]

    def shutdown(self) -> None:
        """Nothing to wait for: lane threads are daemons and die with the process."""


class Lane:
    """Runs one target's blocking calls, at most `slots` at a time."""

    def __init__(
        self,
        name: str,
        slots: int = 1,
        abandon_after: float | None = None,
        max_abandoned: int = 4,
    ) -> None:
        self.name = name
        self.slots = slots
        self.abandon_after = abandon_after
        self.max_abandoned = max_abandoned
        self._running: dict[int, tuple[str, float]] = {}
        self._abandoned: set[int] = set()  # still running, no longer holding a slot
        self._next_id = 0
        self._freed: asyncio.Event | None = None

    @property
    def busy(self) -> int:
        """Slots held now."""
        return len(self._running) - len(self._abandoned)

    @property
    def abandoned(self) -> int:
        """Threads past `abandon_after` that still have not returned."""
        return len(self._abandoned)

    def _abandon_overdue(self) -> float | None:
        """Gives back the slots of overdue calls; returns seconds until the next is due."""
        if self.abandon_after is None:
            return None
        now = time.monotonic()
        next_due: float | None = None
        for call_id, (_, started) in sorted(self._running.items(), key=lambda i: i[1][1]):
            if call_id in self._abandoned:
                continue
            due = started + self.abandon_after - now
            if due <= 0 and len(self._abandoned) < self.max_abandoned:
                self._abandoned.add(call_id)
            elif due > 0:
                next_due = due if next_due is None else min(next_due, due)
        return next_due

    def oldest_call(self) -> tuple[str, float] | None:
        """(what, seconds running) of the longest-running call, for error messages."""
        if not self._running:
            return None
        what, started = min(self._running.values(), key=lambda item: item[1])
        return what, time.monotonic() - started

    async def run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        loop = asyncio.get_running_loop()
        if self._freed is None:
            self._freed = asyncio.Event()
        while True:
            next_due = self._abandon_overdue()
            if self.busy < self.slots:
                break
            self._freed.clear()
            # The caller's timeout cuts this wait; an overdue call frees a slot too.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(next_due):
                    await self._freed.wait()
        call_id = self._next_id
        self._next_id += 1
        what = getattr(fn, "__name__", repr(fn))
        self._running[call_id] = (what, time.monotonic())
        future: asyncio.Future[R] = loop.create_future()
        call = functools.partial(fn, *args, **kwargs)

        def settle(outcome: Callable[[], None]) -> None:
            if not future.done():  # the caller may have given up (timeout, disconnect)
                outcome()

        def work() -> None:
            try:
                result = call()
            except BaseException as err:  # handed to the awaiting coroutine
                error = err
                deliver = functools.partial(settle, lambda: future.set_exception(error))
            else:
                deliver = functools.partial(settle, lambda: future.set_result(result))
            # RuntimeError: the loop is closed, the exporter is shutting down.
            with contextlib.suppress(RuntimeError):
                # The slot is free before the caller sees the result.
                loop.call_soon_threadsafe(self._release, call_id)
                loop.call_soon_threadsafe(deliver)

        thread = threading.Thread(target=work, name=f"lane-{self.name}-{what}", daemon=True)
        try:
            thread.start()
        except BaseException:
            self._release(call_id)
            raise
        return await future

    def _release(self, call_id: int) -> None:
        self._running.pop(call_id, None)
        self._abandoned.discard(call_id)
        if self._freed is not None:
            self._freed.set()
