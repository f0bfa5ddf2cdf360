"""Command line: flags in the Prometheus exporter conventions."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from exporter import __version__
from exporter.config import ConfigError, load_config
from exporter.logs import LEVELS, register_secrets, setup_logging

DEFAULT_LISTEN = ":9877"
log = logging.getLogger("exporter")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hypervisor-exporter",
        description="Prometheus exporter for vSphere, libvirt/KVM, Ceph and iSCSI.",
    )
    parser.add_argument(
        "--config.file",
        dest="config_file",
        metavar="PATH",
        help="YAML config; without it the embedded demo (libvirt test:///default)",
    )
    parser.add_argument(
        "--web.listen-address",
        dest="listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"address to serve on (default {DEFAULT_LISTEN})",
    )
    parser.add_argument(
        "--web.config.file",
        dest="web_config",
        metavar="PATH",
        help="TLS and basic auth, in the exporter-toolkit web config format",
    )
    parser.add_argument("--log.level", dest="log_level", default="info", choices=list(LEVELS))
    parser.add_argument(
        "--log.format", dest="log_format", default="logfmt", choices=["logfmt", "json"]
    )
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="validate the config (and web config) and exit 0 or 1; connects to nothing",
    )
    parser.add_argument("--version", action="version", version=f"hypervisor-exporter {__version__}")
    return parser.parse_args(argv)


def split_listen(address: str) -> tuple[str | None, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(
            f"--web.listen-address: expected HOST:PORT or :PORT with a port in 0..65535"
            f" (0: any free port), got {address!r}"
        )
    return (host.strip("[]") or None), int(port)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    from exporter.webconfig import WebConfig, load_web_config

    try:
        config = load_config(args.config_file)
        web_config = load_web_config(args.web_config) if args.web_config else WebConfig()
        host, port = split_listen(args.listen)
    except ConfigError as err:
        print(f"hypervisor-exporter: config refused:\n{err}", file=sys.stderr)
        return 1
    register_secrets(secret.reveal() for secret in config.secrets())
    if args.check_config:
        kinds = ", ".join(f"{t.name} ({t.kind})" for t in config.targets)
        print(f"{config.source}: OK, {len(config.targets)} targets: {kinds}")
        return 0

    from exporter.server import EventLoop, serve

    with asyncio.Runner(loop_factory=EventLoop) as runner:
        code = runner.run(serve(args, config, web_config, host, port))
    # Worker threads may still sit in a hung library call (a silent peer): they are daemons,
    # but C libraries (librados) may hold the interpreter's exit; nothing is left to do.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
