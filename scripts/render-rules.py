#!/usr/bin/env python3
"""Renders alerts/hypervisor.rules.yaml from its source and the table of thresholds.

    scripts/render-rules.py -o alerts/hypervisor.rules.yaml      # what `make render` runs
    scripts/render-rules.py --check                             # committed file up to date?
    scripts/render-rules.py --runbook-base https://wiki.example/runbooks/ -o hypervisor.rules.yaml
    scripts/render-rules.py --for 10s --autostart-grace 5 -o /tmp/fast.rules.yaml   # demos, tests
    scripts/render-rules.py --for HypervisorTargetDown=30s -o /tmp/demo.rules.yaml

The source is alerts/src/hypervisor.rules.yaml, the numbers (thresholds, for:, severities,
the autostart grace, the runbook base) are alerts/thresholds.yaml. --runbook-base replaces
everything before "<Alert>.md" in every runbook_url; --for DURATION sets every alert's `for:`
and --for ALERT=DURATION one alert's (the shipped durations are explained in docs/runbooks/);
the descriptions quote the `for:` in force;
--autostart-grace sets the base grace of HypervisorVMAutostartFailed in seconds. Validate a
site copy with `promtool check rules`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts import render, thresholds  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", type=Path, default=render.SOURCE, help="rules source")
    parser.add_argument("--thresholds", type=Path, default=thresholds.TABLE, help="the table")
    parser.add_argument("--runbook-base", help="URL the runbook files live under")
    parser.add_argument(
        "--for",
        dest="for_durations",
        action="append",
        default=[],
        metavar="[ALERT=]DURATION",
        help="set every alert's for: (10s), or one alert's (HypervisorTargetDown=30s); repeatable",
    )
    parser.add_argument("--autostart-grace", type=float, help="base autostart grace, seconds")
    parser.add_argument("-o", "--output", type=Path, help="output file (default: stdout)")
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"write nothing; exit 1 if {render.OUTPUT.relative_to(ROOT)} is not a fresh render",
    )
    args = parser.parse_args(argv)
    options = []
    for_overrides = {}
    for value in args.for_durations:
        name, _, duration = value.rpartition("=")
        if not thresholds.DURATION.match(duration):
            return _fail(f"--for: {duration!r} is not a Prometheus duration such as 30s or 5m")
        for_overrides[name or render.ALL] = duration
        options.append(f"--for {value}")
    grace = None
    if args.autostart_grace is not None:
        if args.autostart_grace < 0:
            return _fail(f"--autostart-grace: {args.autostart_grace} must be 0 or more seconds")
        grace = f"{args.autostart_grace:g}"
        options.append(f"--autostart-grace {grace}")
    if args.runbook_base is not None:
        options.append(f"--runbook-base {args.runbook_base}")
    try:
        text = render.render_files(
            args.rules,
            args.thresholds,
            args.runbook_base.rstrip("/") + "/" if args.runbook_base else None,
            for_overrides,
            grace,
            f"\n# Rendered with {' '.join(options)}." if options else "",
        )
    except thresholds.TableError as err:
        return _fail(str(err))
    if args.check:
        committed = render.OUTPUT.read_text(encoding="utf-8") if render.OUTPUT.exists() else ""
        if committed != text:
            return _fail(f"{render.OUTPUT.relative_to(ROOT)} is out of date: run `make render`")
        return 0
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _fail(message: str) -> int:
    print(f"render-rules: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
