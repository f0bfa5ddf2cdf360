"""Blocking library calls (libvirt, pyvmomi, librados) in worker threads, bounded per target.

A thread stuck in a hung API call cannot be cancelled. Each target therefore gets a lane
with a fixed number of worker slots: a slot is released only when its thread really
returns, so a hung target holds at most its own slots and never the threads other targets
use. Each call runs in a daemon thread of its own lane (threads are cheap next to a network
call), so lanes come and go with targets on reload, and a thread hung in a library call
never keeps the process from exiting.
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

    def lane(self, name: str, slots: int = 1) -> Lane:
        lane = Lane(name, slots)
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

    def __init__(self, name: str, slots: int = 1) -> None:
        self.name = name
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
                loop.call_soon_threadsafe(deliver)
                loop.call_soon_threadsafe(self._release, call_id)

        thread = threading.Thread(target=work, name=f"lane-{self.name}-{what}", daemon=True)
        try:
            thread.start()
        except BaseException:
            self._release(call_id)
            raise
        return await future

    def _release(self, call_id: int) -> None:
        self._running.pop(call_id, None)
        if self._freed is not None:
            self._freed.set()
