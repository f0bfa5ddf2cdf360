#!/usr/bin/env bash
# The exporters operators run today, for the side-by-side benchmark (benchmarks/peers.py)
# that checks every fact both report agrees: Debian's libvirt exporter (kumina 0.2.0). The
# ceph-mgr prometheus module comes with ceph-mgr (40-ceph.sh); vmware-exporter is a PyPI
# package the vSphere benchmark installs in its own venv (benchmarks/vsphere.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
apt_install prometheus-libvirt-exporter
