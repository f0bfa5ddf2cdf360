"""A byte-counting TCP proxy on loopback: how many bytes a server (the simulated vCenter)
sends to its clients, per collection.

It runs its own asyncio loop in a thread, so a synchronous benchmark can put it in front of
a peer, read the counters around each scrape, and stop it. TLS passes through untouched
(the bytes counted are the bytes on the wire, TLS records included); the simulator's
certificate is for 127.0.0.1, so clients keep verifying it through the proxy.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

CHUNK = 256 * 1024


@dataclass(frozen=True)
class Counts:
    from_server: int  # what the server sent (what "vCenter sends")
    to_server: int  # what the clients sent


class ByteProxy:
    def __init__(self, upstream: str, listen_host: str = "127.0.0.1") -> None:
        host, port = upstream.rsplit(":", 1)
        self._upstream = (host, int(port))
        self._listen_host = listen_host
        self._from_server = 0
        self._to_server = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="byte-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._thread.start()
        if not self._ready.wait(10) or self._server is None:
            raise RuntimeError("byte proxy did not start")
        self.port: int = self._server.sockets[0].getsockname()[1]
        self.address: str = f"{listen_host}:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._server = await asyncio.start_server(self._client, self._listen_host, 0)
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def counts(self) -> Counts:
        with self._lock:
            return Counts(self._from_server, self._to_server)

    def _add(self, from_server: int, to_server: int) -> None:
        with self._lock:
            self._from_server += from_server
            self._to_server += to_server

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.close()
            return

        async def pipe(
            src: asyncio.StreamReader, dst: asyncio.StreamWriter, from_server: bool
        ) -> None:
            try:
                while data := await src.read(CHUNK):
                    if from_server:
                        self._add(len(data), 0)
                    else:
                        self._add(0, len(data))
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer, False), pipe(up_reader, writer, True))

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
