"""Blocking library calls (libvirt, pyvmomi, librados) in worker threads, bounded per target.

A thread stuck in a hung API call cannot be cancelled. Each target therefore gets a lane
with a fixed number of worker slots: a slot is released only when its thread really
returns, so a hung target can hold at most its own slots and never exhausts the threads
that other targets use. The shared executor has exactly as many threads as all lanes have
slots, so no lane ever waits for another's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class WorkerPool:
    """The process-wide thread pool; lanes are carved out of it."""

    def __init__(self) -> None:
        self._slots = 0
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    def lane(self, name: str, slots: int = 1) -> Lane:
        if self._executor is not None:
            raise RuntimeError("all lanes must be created before the first call")
        self._slots += slots
        return Lane(self, name, slots)

    @property
    def executor(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=max(1, self._slots), thread_name_prefix="collector"
            )
        return self._executor

    def shutdown(self) -> None:
        if self._executor is not None:
            # Do not wait: a thread hung in a library call would block exit forever.
            self._executor.shutdown(wait=False, cancel_futures=True)


class Lane:
    """Runs one target's blocking calls, at most `slots` at a time."""

    def __init__(self, pool: WorkerPool, name: str, slots: int) -> None:
        self.name = name
        self._pool = pool
        self.slots = slots
        self._running: dict[int, tuple[str, float]] = {}
        self._next_id = 0
        self._freed: asyncio.Event | None = None

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
        while len(self._running) >= self.slots:
            self._freed.clear()
            await self._freed.wait()  # the caller's timeout cuts this wait
        call_id = self._next_id
        self._next_id += 1
        self._running[call_id] = (getattr(fn, "__name__", repr(fn)), time.monotonic())
        future = self._pool.executor.submit(functools.partial(fn, *args, **kwargs))

        def release(_: concurrent.futures.Future[R]) -> None:
            # RuntimeError: the loop is closed, the exporter is shutting down.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._release, call_id)

        future.add_done_callback(release)
        return await asyncio.wrap_future(future)

    def _release(self, call_id: int) -> None:
        self._running.pop(call_id, None)
        if self._freed is not None:
            self._freed.set()
