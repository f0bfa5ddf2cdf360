"""A connection kept across collections and replaced after a failure.

libvirt connections and librados clients are expensive to open and cheap to reuse, but one
that failed (a timeout, a dropped socket) may be half-dead: the next collection must start
from a fresh one instead of failing on the old one forever. Both libraries are thread-safe,
so calls are not serialised: a call stuck on one hung VM must not stop the next
collection from using the same connection.
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
        self._lock = threading.Lock()  # guards opening and dropping, not the calls
        self.current: C | None = None

    def use(self, call: Callable[[C], R]) -> R:
        with self._lock:
            if self.current is None:
                self.current = self._open()
            conn = self.current
        try:
            return call(conn)
        except Exception:
            self._drop(conn)
            raise

    def close(self) -> None:
        if self.current is not None:
            self._drop(self.current)

    def _drop(self, conn: C) -> None:
        with self._lock:
            if self.current is not conn:
                return  # another call already replaced it
            self.current = None
        with contextlib.suppress(Exception):
            self._close(conn)
