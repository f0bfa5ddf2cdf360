#!/usr/bin/env bash
# Prometheus and promtool, Alertmanager and amtool (Debian 12: 2.42 and 0.25). The tests start
# them by hand on loopback; Debian's service units are not used (no systemd here).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
apt_install prometheus prometheus-alertmanager
