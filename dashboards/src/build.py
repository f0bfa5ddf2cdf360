"""Writes dashboards/*.json from the board definitions: `python -m dashboards.src.build`.

`--check` writes nothing and exits 1 when a committed file differs from what the sources
generate (for CI and the tests).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.models import dashboard as dm

from dashboards.src import fleet, host, storage, vm
from dashboards.src.common import to_json

OUT = Path(__file__).resolve().parent.parent

# File name -> board. The names are what the Helm chart and file provisioning ship.
BOARDS: dict[str, Callable[[], dm.Dashboard]] = {
    "fleet-overview.json": fleet.build,
    "host.json": host.build,
    "vm.json": vm.build,
    "storage.json": storage.build,
}


def render() -> dict[str, str]:
    """{file name: JSON text} of every board."""
    return {name: to_json(build()) for name, build in BOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = OUT / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"out of date, run `make render`: {', '.join(stale)}", file=sys.stderr)
        return 1
    verb = "would change" if args.check else "wrote"
    print(f"{verb} {len(stale)} of {len(BOARDS)} boards in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
