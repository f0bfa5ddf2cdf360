#!/usr/bin/env python3
"""Writes a copy of alerts/hypervisor.rules.yaml with site-specific changes.

    scripts/render-rules.py --runbook-base https://wiki.example/runbooks/ -o hypervisor.rules.yaml
    scripts/render-rules.py --for 10s --autostart-grace 5 -o /tmp/fast.rules.yaml   # demos, tests

--runbook-base replaces everything before "<Alert>.md" in every runbook_url. --for sets every
alert's `for:` (the shipped durations are explained in docs/runbooks/); --autostart-grace
sets the base grace of HypervisorVMAutostartFailed in seconds. Descriptions keep the shipped
wording ("for 10 minutes"), so --for is for demos and tests. The output loses the source's
comments; validate it with `promtool check rules`.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "alerts" / "hypervisor.rules.yaml"
GRACE_RECORD = "hypervisor:autostart_grace_base_seconds"
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    # Multi-line PromQL and templates stay readable as block scalars.
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _str)


def render(
    rules: dict[str, Any],
    runbook_base: str | None = None,
    for_duration: str | None = None,
    autostart_grace: float | None = None,
) -> dict[str, Any]:
    if for_duration is not None and not DURATION.match(for_duration):
        raise ValueError(f"--for: {for_duration!r} is not a Prometheus duration such as 30s or 5m")
    if autostart_grace is not None and autostart_grace < 0:
        raise ValueError(f"--autostart-grace: {autostart_grace} must be 0 or more seconds")
    found_grace = False
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("record") == GRACE_RECORD and autostart_grace is not None:
                rule["expr"] = f"vector({autostart_grace:g})"
                found_grace = True
            if "alert" not in rule:
                continue
            if for_duration is not None:
                rule["for"] = for_duration
            url = rule.get("annotations", {}).get("runbook_url")
            if runbook_base is not None and url:
                rule["annotations"]["runbook_url"] = (
                    runbook_base.rstrip("/") + "/" + url.rsplit("/", 1)[1]
                )
    if autostart_grace is not None and not found_grace:
        raise ValueError(f"the rules have no {GRACE_RECORD} recording rule to change")
    return rules


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", type=Path, default=RULES, help="source rules file")
    parser.add_argument("--runbook-base", help="URL the runbook files live under")
    parser.add_argument("--for", dest="for_duration", help="set every alert's for: (e.g. 10s)")
    parser.add_argument("--autostart-grace", type=float, help="base autostart grace, seconds")
    parser.add_argument("-o", "--output", type=Path, help="output file (default: stdout)")
    args = parser.parse_args(argv)
    try:
        rules = yaml.safe_load(args.rules.read_text())
        out = render(rules, args.runbook_base, args.for_duration, args.autostart_grace)
    except (OSError, ValueError, yaml.YAMLError) as err:
        print(f"render-rules: {err}", file=sys.stderr)
        return 1
    text = f"# Rendered from {args.rules.name} by scripts/render-rules.py; edit the source.\n"
    text += yaml.dump(out, Dumper=_Dumper, sort_keys=False, width=100)
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
