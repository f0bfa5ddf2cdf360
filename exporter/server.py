"""Serving: listen, reload on SIGHUP, and exit within seconds of SIGTERM or SIGINT.

On SIGTERM the listener closes, in-flight requests get a short grace to finish (they are
closed after it), collectors are asked to close (logouts), and the process exits within
`EXIT_DEADLINE` seconds whatever the worker threads are doing: a thread hung in a library
call is a daemon and is not waited for.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

from aiohttp import web

from exporter import __version__
from exporter.config import Config
from exporter.http import LIVE, apply_config, create_app
from exporter.logs import log_loop_exception
from exporter.reload import Reloader
from exporter.webconfig import WebConfig, swappable_context

log = logging.getLogger("exporter")

EXIT_DEADLINE = 4.5  # seconds from SIGTERM to exit; Kubernetes' and systemd's waits are longer
ACCEPT_RETRY_DELAY = 1.0  # seconds without accepting after running out of descriptors
REQUEST_GRACE = 1.0  # of which in-flight requests may take this long to finish


async def serve(
    args: argparse.Namespace, config: Config, web_config: WebConfig, host: str | None, port: int
) -> int:
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(log_loop_exception)
    tls, replace_tls = (None, None)
    if web_config.ssl_context is not None:
        tls, replace_tls = swappable_context(web_config.ssl_context)
    app = create_app(config, web_config=web_config)
    live = app[LIVE]

    def set_web_config(new: WebConfig) -> None:
        new.cache = live.web_config.cache  # checked passwords of unchanged hashes stay valid
        live.web_config = new

    live.reloader = Reloader(
        args.config_file,
        args.web_config,
        lambda new: apply_config(app, new),
        set_web_config,
        tls_enabled=tls is not None,
        replace_tls=replace_tls,
    )
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=REQUEST_GRACE
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=tls, backlog=1024)
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        print(f"hypervisor-exporter: {listen_problem(args.listen, err)}", file=_stderr())
        return 1
    addresses = [_format(address) for address in runner.addresses]
    log.info(
        "listening",
        extra={
            "fields": {
                "version": __version__,
                "config": config.source,
                "address": ",".join(addresses),
                "targets": len(config.targets),
                "tls": tls is not None,
            }
        },
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Task[list[str]]] = set()

    def on_hup() -> None:
        task = loop.create_task(live.reloader.reload())  # type: ignore[union-attr]
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hup)
    await stop.wait()
    started = time.monotonic()
    log.info("stopping", extra={"fields": {"deadline_seconds": EXIT_DEADLINE}})
    live.stopping.set()
    # Whatever happens below (a blocked loop, a hung executor thread that asyncio.run
    # would join), the process ends at the deadline; a second signal ends it at once.
    watchdog = threading.Timer(EXIT_DEADLINE, _exit_now, args=("deadline reached",))
    watchdog.daemon = True
    watchdog.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _exit_now, "second signal")
    try:
        async with asyncio.timeout(EXIT_DEADLINE - 0.5):
            await runner.cleanup()
    except TimeoutError:
        log.warning("stopping: closing collectors took too long; exiting anyway")
    except Exception as err:  # exit anyway
        log.warning("stopping: cleanup failed", extra={"fields": {"reason": str(err)}})
    log.info("stopped", extra={"fields": {"seconds": round(time.monotonic() - started, 3)}})
    return 0


class EventLoop(asyncio.SelectorEventLoop):
    """asyncio's loop, with accept() that stops at the first "out of file descriptors".

    CPython 3.11's loop goes on calling accept() up to `backlog` times after EMFILE, each
    failure scheduling one more retry: out of descriptors, the exporter made about ten
    thousand failing accept() calls a second. Here the first failure pauses accepting for
    a second (as asyncio intends), and is logged (rate-limited by the log handler).
    """

    def _accept_connection(
        self,
        protocol_factory: Any,
        sock: socket.socket,
        sslcontext: Any = None,
        server: Any = None,
        backlog: int = 100,
        *args: Any,
    ) -> None:
        for _ in range(backlog):
            try:
                conn, addr = sock.accept()
                conn.setblocking(False)
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    raise
                self.call_exception_handler(
                    {"message": "socket.accept() out of system resource", "exception": exc}
                )
                self._remove_reader(sock.fileno())  # type: ignore[attr-defined]
                self.call_later(
                    ACCEPT_RETRY_DELAY,
                    self._start_serving,  # type: ignore[attr-defined]
                    protocol_factory,
                    sock,
                    sslcontext,
                    server,
                    backlog,
                    *args,
                )
                return
            else:
                accept = self._accept_connection2(  # type: ignore[attr-defined]
                    protocol_factory, conn, {"peername": addr}, sslcontext, server, *args
                )
                self.create_task(accept)


def _exit_now(why: str) -> None:
    log.warning("exiting without waiting for the rest", extra={"fields": {"reason": why}})
    logging.shutdown()
    os._exit(0)


def _stderr() -> Any:
    return sys.stderr


def _format(address: Any) -> str:
    if isinstance(address, tuple):
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return str(address)


def listen_problem(address: str, err: OSError) -> str:
    """One line that says why the listen address cannot be used."""
    if isinstance(err, socket.gaierror):
        return f"cannot listen on {address}: the host does not resolve ({err.strerror})"
    reason = {
        errno.EADDRINUSE: "the address is already in use (another process listens there)",
        errno.EADDRNOTAVAIL: "this machine has no such address",
        errno.EACCES: "permission denied (ports below 1024 need privileges)",
    }.get(err.errno or 0, err.strerror or str(err))
    return f"cannot listen on {address}: {reason}"
