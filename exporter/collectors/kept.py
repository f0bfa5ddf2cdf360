"""A connection kept across collections, replaced after a failure, never queued behind a
hung call.

libvirt connections and librados clients are expensive to open and cheap to reuse, but one
that failed (a timeout, a dropped socket) may be half-dead: the next collection must start
from a fresh one instead of failing on the old one forever.

A connection whose call has not returned is not handed to the next collection either: on
one libvirt connection, a call stuck on a hung VM's monitor can hold back the next call
made on the same connection (seen with libvirt 9.0: about half of the calls queued behind
it waited until it returned), which let one hung VM take its whole host down. The next
collection opens a fresh connection instead; the stuck one is closed when its call
returns. Opening happens outside the lock, so a thread hung in `open` holds only itself.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

C = TypeVar("C")
R = TypeVar("R")


class _Held(Generic[C]):
    def __init__(self, conn: C) -> None:
        self.conn = conn
        self.calls = 0  # calls in flight on it
        self.retired = False  # replaced: close once its last call returns


class KeptConnection(Generic[C]):
    """Opens on first use, reuses while calls succeed and return, drops after a failure.
    Blocking: call `use` and `close` from the target's lane."""

    def __init__(self, open_: Callable[[], C], close: Callable[[C], object]) -> None:
        self._open = open_
        self._close = close
        self._lock = threading.Lock()  # guards the bookkeeping, never held across I/O
        self._current: _Held[C] | None = None
        self.opened = 0  # connections opened so far (tests and logs)

    @property
    def current(self) -> C | None:
        held = self._current
        return held.conn if held is not None else None

    def use(self, call: Callable[[C], R]) -> R:
        with self._lock:
            held = self._current
            if held is not None and held.calls == 0:
                held.calls += 1
            else:
                held = None  # none yet, or its last call is still running (maybe hung)
        if held is None:
            held = _Held(self._open())
            retire = None
            with self._lock:
                self.opened += 1
                held.calls = 1
                if self._current is not None:
                    retire = self._retire(self._current)
                self._current = held
            self._close_quietly(retire)
        try:
            return call(held.conn)
        except Exception:
            with self._lock:
                if self._current is held:
                    self._current = None
                held.retired = True
            raise
        finally:
            with self._lock:
                held.calls -= 1
                done = held.conn if held.retired and held.calls == 0 else None
            self._close_quietly(done)

    def close(self) -> None:
        with self._lock:
            held, self._current = self._current, None
            done = self._retire(held) if held is not None else None
        self._close_quietly(done)

    @staticmethod
    def _retire(held: _Held[C]) -> C | None:
        """Marks `held` replaced; returns its connection when it can be closed now."""
        held.retired = True
        return held.conn if held.calls == 0 else None

    def _close_quietly(self, conn: C | None) -> None:
        if conn is not None:
            with contextlib.suppress(Exception):
                self._close(conn)
