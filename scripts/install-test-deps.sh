#!/usr/bin/env bash
# Installs everything the test suite talks to on a fresh Debian 12 machine (as root):
# the venv with test tools, then each peer's own script in scripts/deps.d/ (libvirtd with
# QEMU, Prometheus and Alertmanager, Ceph, the vCenter simulator, helm, ...). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh test
for step in scripts/deps.d/*.sh; do
    [ -e "$step" ] || continue
    echo "== $step"
    bash "$step"
done
