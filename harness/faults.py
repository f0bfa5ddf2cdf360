"""Misbehaving TCP peers on loopback: one that accepts and holds, one that resets, one that
sends garbage, one that drips a byte at a time; and, once told to, one that answers again
by forwarding to the real service. Connections accepted while misbehaving stay held."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator

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
