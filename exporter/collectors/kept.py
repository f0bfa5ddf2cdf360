"""A connection kept across collections and replaced after any failure.

libvirt connections and librados clients are expensive to open and cheap to reuse, but one
that failed (a timeout, a dropped socket) may be half-dead: the next collection must start
from a fresh one instead of failing on the old one forever.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

C = TypeVar("C")
R = TypeVar("R")


class KeptConnection(Generic[C]):
    """Opens on first use, reuses while calls succeed, drops after a failure. Blocking: call
    `use` and `close` from the target's lane."""

    def __init__(self, open_: Callable[[], C], close: Callable[[C], object]) -> None:
        self._open = open_
        self._close = close
        self._lock = threading.Lock()  # a lane may have more than one worker slot
        self.current: C | None = None

    def use(self, call: Callable[[C], R]) -> R:
        with self._lock:
            if self.current is None:
                self.current = self._open()
            try:
                return call(self.current)
            except Exception:
                self._drop()
                raise

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        conn, self.current = self.current, None
        if conn is not None:
            with contextlib.suppress(Exception):
                self._close(conn)
