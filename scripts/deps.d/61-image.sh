#!/usr/bin/env bash
# buildah and mmdebstrap, to build the Containerfile for real in the tests without a container
# engine or a registry: mmdebstrap makes a Debian 12 base from the Debian mirror, buildah builds
# on it with chroot isolation and vfs storage (no daemon, no overlay mounts, no user namespaces).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
apt_install buildah mmdebstrap ca-certificates
