"""Starting real peers as child processes of the test session, so they always stop."""

from __future__ import annotations

import abc
import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Self, TypeVar


class PeerRefused(RuntimeError):
    """A peer was about to start where none may (see `refusing_peers`)."""


_refusal: list[str] = []  # why peers may not start now; empty: they may


@contextlib.contextmanager
def refusing_peers(reason: str) -> Iterator[None]:
    """Within this block every peer refuses to start, raising PeerRefused with `reason`.
    The tests wrap each test that is not marked slow in it, so `make unit` starts none."""
    _refusal.append(reason)
    try:
        yield
    finally:
        _refusal.pop()


def starting(peer: str) -> None:
    """Every peer calls this before it starts anything: raises inside `refusing_peers`."""
    if _refusal:
        raise PeerRefused(f"{peer} would start here, but {_refusal[-1]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as err:  # the peer is not up yet
            last = err
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout}s (last error: {last})")


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        status: int = response.status
        return 200 <= status < 300


class Peer:
    """A background process whose output goes to a log file; stopped with SIGTERM, then KILL."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_dir: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        # Peers are the programs the exporter talks to or is watched by (libvirtd, Ceph, the
        # vCenter simulator, Prometheus, ...). The exporter itself is the system under test:
        # quick tests may run it (it serves in about half a second).
        if list(argv[1:3]) != ["-m", "exporter"]:
            starting(name)
        self.name = name
        self.argv = list(argv)
        self.log_path = log_dir / f"{name}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 10) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGCONT)
                self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()

    def finish(self, timeout: float) -> str | None:
        """For a one-off command: waits for it to exit and closes its log; None when it
        succeeded, else the tail of its output (what a failure message should show)."""
        try:
            failed = self.proc.wait(timeout) != 0
        finally:
            self.stop()
        return self.log_tail() if failed else None

    def wait_ready(self, check: Callable[[], bool], timeout: float) -> None:
        def ready() -> bool:
            if not self.alive():
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            return check()

        try:
            wait_until(ready, timeout, self.name)
        except Exception:
            self.stop()
            raise


P = TypeVar("P", bound=Peer)


@contextlib.contextmanager
def running(peer: P) -> Iterator[P]:
    try:
        yield peer
    finally:
        peer.stop()


class PeerGroup(abc.ABC):
    """Peers started and stopped as one: a Ceph cluster, an OpenStack cloud.

    `start()` runs the group's `_start` and, when that fails or is interrupted (Ctrl-C
    included), calls `stop()` before the error goes on, so a start that fails halfway never
    leaves daemons behind; `stop()` must therefore cope with a group only partly started.
    `running()` starts the group for a `with` block and always stops it."""

    what = "peer group"  # named in PeerRefused when peers may not start
    start_timeout = 120.0  # seconds `start()` gives `_start` unless told otherwise
    start_seconds = 0.0  # how long the last successful start took

    @abc.abstractmethod
    def _start(self, timeout: float) -> None:
        """Starts every peer of the group and waits until it serves, within `timeout`."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stops whatever of the group is running."""

    def start(self, timeout: float | None = None) -> None:
        starting(self.what)
        started = time.monotonic()
        try:
            self._start(self.start_timeout if timeout is None else timeout)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started

    @contextlib.contextmanager
    def running(self, timeout: float | None = None) -> Iterator[Self]:
        self.start(timeout)
        try:
            yield self
        finally:
            self.stop()
