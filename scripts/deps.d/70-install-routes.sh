#!/usr/bin/env bash
# The README's install routes, tested for real (tests/packaging): pipx (from a checkout and a
# Git URL, so git too) and systemd-analyze for the shipped systemd unit.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
apt_install pipx git systemd
