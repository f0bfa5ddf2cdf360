#!/usr/bin/env bash
# One command for newcomers: the exporter (the demo's libvirt test targets unless
# --config.file is given), Prometheus and Alertmanager on loopback with the shipped rules and
# routing; one alert (HypervisorTargetDown of the down host lab-kvm) pages and resolves.
# Needs Debian's prometheus and prometheus-alertmanager (scripts/deps.d/20-prometheus.sh).
# Options: --fast (for: and autostart grace 10s), --config.file PATH. Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || scripts/bootstrap.sh run
exec .venv/bin/python scripts/demo.py "$@"
