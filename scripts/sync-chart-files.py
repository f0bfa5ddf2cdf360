#!/usr/bin/env python3
"""Copies the rendered rules and boards into the Helm chart's files/ (`make render` runs it).

    scripts/sync-chart-files.py           # write helm/hypervisor-exporter/files/
    scripts/sync-chart-files.py --check   # write nothing; exit 1 if a copy is stale

The chart reads alerts/hypervisor.rules.yaml and dashboards/*.json through .Files, which only
sees files inside the chart: real copies (not symbolic links, which `helm template` warns
about on every run) that the tests compare with the originals.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = ROOT / "helm" / "hypervisor-exporter" / "files"


def wanted() -> dict[Path, Path]:
    """{copy in the chart: original} of every file the chart ships."""
    sources = [ROOT / "alerts" / "hypervisor.rules.yaml", *sorted(ROOT.glob("dashboards/*.json"))]
    return {FILES / source.parent.name / source.name: source for source in sources}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    links = [p for p in (FILES / "alerts", FILES / "dashboards") if p.is_symlink()]
    if not args.check:
        for link in links:  # what the chart used before: replaced by copies
            link.unlink()
        links = []
    copies = wanted()
    present = {p for p in FILES.rglob("*") if p.is_file() and not p.is_symlink()}
    stale = [
        copy
        for copy, source in copies.items()
        if copy.is_symlink() or not copy.is_file() or copy.read_bytes() != source.read_bytes()
    ]
    extra = sorted(present - set(copies))
    if args.check:
        problems = [f"symbolic link: {p.relative_to(ROOT)}" for p in links]
        problems += [f"stale or missing: {p.relative_to(ROOT)}" for p in stale]
        problems += [f"not a rendered rule or board: {p.relative_to(ROOT)}" for p in extra]
        if problems:
            print("run `make render`:\n  " + "\n  ".join(problems), file=sys.stderr)
            return 1
        return 0
    for path in extra:
        path.unlink()
    for copy in stale:
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(copies[copy].read_bytes())
    print(f"{len(stale)} of {len(copies)} chart files updated in {FILES.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
