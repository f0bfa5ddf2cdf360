#!/usr/bin/env bash
# Creates .venv with the exporter installed. The venv is made by Debian's /usr/bin/python3
# with --system-site-packages so that librados' binding (Debian python3-rados, not on PyPI)
# imports in it; libvirt-python builds from source against Debian's libvirt-dev.
# Every PyPI package is installed at the exact version in constraints.txt (the tested set;
# refreshed with `make constraints`).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

apt_install python3-venv libvirt-dev pkg-config gcc python3-dev
if [ ! -x .venv/bin/python ]; then
    /usr/bin/python3 -m venv --system-site-packages .venv
    .venv/bin/pip install -q -c constraints.txt --upgrade pip
fi
stamp=.venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)-${1:-run}
if [ ! -f "$stamp" ]; then
    if [ "${1:-run}" = test ]; then
        .venv/bin/pip install -q -c constraints.txt -e '.[test]'
    else
        .venv/bin/pip install -q -c constraints.txt -e .
    fi
    touch "$stamp"
fi
