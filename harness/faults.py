"""Misbehaving TCP peers on loopback: one that accepts and holds, one that resets, one that
sends garbage, one that drips a byte at a time; and, once told to, one that answers again
by forwarding to the real service. Connections accepted while misbehaving stay held.

`down_then_recovered` is the course every platform's fault test runs an exporter through:
down at its timeout while another target is served, up again once the peer answers, and
out within seconds of SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from harness import exposition
from harness.exporter import Exporter

MODES = ("hold", "reset", "garbage", "drip")


class FaultPeer:
    def __init__(
        self, mode: str, upstream: tuple[str, int] | str | None = None, port: int = 0
    ) -> None:
        assert mode in MODES
        self.mode = mode
        self.upstream = upstream  # (host, port) or a unix socket path: where to forward
        self.forwarding = False
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 15
        while True:  # a fixed port may take a moment to be free (a daemon shutting down)
            try:
                self.server.bind(("127.0.0.1", port))
                break
            except OSError:
                if not port or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.server.listen(64)
        self.port = int(self.server.getsockname()[1])
        self.held: list[socket.socket] = []
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def answer_again(self) -> None:
        """From now on, new connections reach the real service; held ones stay held."""
        assert self.upstream is not None
        self.forwarding = True

    def stop_listening(self) -> None:
        """Frees the port for the real service (which binds it itself, as a monitor whose
        address is fixed does); the connections accepted so far stay held."""
        self._stop.set()
        self._thread.join()
        self.server.close()

    def _accept(self) -> None:
        self.server.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            handler = self._forward if self.forwarding else self._misbehave
            threading.Thread(target=handler, args=(conn,), daemon=True).start()

    def _misbehave(self, conn: socket.socket) -> None:
        if self.mode == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            return
        self.held.append(conn)
        with contextlib.suppress(OSError):
            if self.mode == "garbage":
                conn.sendall(os.urandom(4096))
            elif self.mode == "drip":
                while not self._stop.is_set():
                    conn.sendall(os.urandom(1))
                    time.sleep(0.5)

    def _forward(self, conn: socket.socket) -> None:
        family = socket.AF_UNIX if isinstance(self.upstream, str) else socket.AF_INET
        up = socket.socket(family)
        try:
            up.connect(self.upstream)  # type: ignore[arg-type]
        except OSError:
            conn.close()
            return

        def pump(src: socket.socket, dst: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    dst.sendall(data)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

        threading.Thread(target=pump, args=(up, conn), daemon=True).start()
        pump(conn, up)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        for conn in self.held:
            conn.close()
        self.server.close()


@contextlib.contextmanager
def fault_peer(
    mode: str, upstream: tuple[str, int] | str | None = None, port: int = 0
) -> Iterator[FaultPeer]:
    peer = FaultPeer(mode, upstream, port)
    try:
        yield peer
    finally:
        peer.close()


@dataclass(frozen=True)
class Course:
    """What `down_then_recovered` measured."""

    recovery: float  # seconds from the peer answering again to the target reading up
    exit: float  # seconds from SIGTERM to the exporter's exit


def down_then_recovered(
    exporter: Exporter,
    target: str,
    timeout: float,
    peers: Sequence[FaultPeer],
    answer_again: Callable[[], None],
    *,
    served: str = "demo",
    recovery_within: float = 30,
) -> Course:
    """Runs `exporter` through a fault test's course and returns what it measured.

    While `peers` misbehave, three scrapes in a row each answer within `timeout` (the
    target's) plus 2 s, with `target` down and `served` (a healthy target of the same
    exporter) up, and the peers accepted at least one connection. Then `answer_again()`
    makes the real service answer (forwarding, or the service back on the peers' ports);
    `target` must read up within `recovery_within` seconds while the connections the peers
    hold stay held, and through the real service (no new connection is held). Last,
    SIGTERM must end the exporter within 5 s. The caller still stops the exporter
    (`Exporter.stop`) when done.
    """
    for _ in range(3):
        started = time.monotonic()
        text = exporter.metrics()
        took = time.monotonic() - started
        assert took < timeout + 2, f"a scrape took {took:.1f}s with a {timeout}s timeout"
        assert exposition.value(text, "hypervisor_target_up", target=target) == 0
        assert exposition.value(text, "hypervisor_target_up", target=served) == 1
    assert sum(peer.accepted for peer in peers) >= 1
    answer_again()
    answered = time.monotonic()
    # Counted once the peers answer again: until then a client may still be connecting (a
    # Ceph client retries its monitors in the background) and be held like the others.
    held = sum(len(peer.held) for peer in peers)
    while time.monotonic() < answered + recovery_within:
        text = exporter.metrics()
        if exposition.value(text, "hypervisor_target_up", target=target) == 1:
            break
        time.sleep(0.5)
    recovery = time.monotonic() - answered
    assert exposition.value(text, "hypervisor_target_up", target=target) == 1, exporter.log_tail(20)
    assert sum(len(peer.held) for peer in peers) == held  # the old connections stay open
    started = time.monotonic()
    exporter.signal(signal.SIGTERM)
    exporter.proc.wait(10)
    exited = time.monotonic() - started
    assert exited < 5, f"exit took {exited:.1f}s after SIGTERM"
    return Course(recovery, exited)
