#!/usr/bin/env bash
# Ceph Pacific (Debian 12: 16.2) for the throwaway test cluster (harness/ceph.py starts
# 1 mon, 1 mgr and 3 memstore OSDs by hand; Debian's service units are not used) and
# librados' Python binding, python3-rados, which is not on PyPI: the venv sees it through
# --system-site-packages (scripts/bootstrap.sh makes the venv with /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
apt_install ceph-mon ceph-mgr ceph-osd ceph-common python3-rados
