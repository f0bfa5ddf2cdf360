#!/usr/bin/env bash
# iSCSI tests: the real iscsiadm (open-iscsi) renders the sysfs fixture trees bind-mounted
# over /sys in a private mount namespace (unshare and mount from util-linux, setpriv to run
# the exporter unprivileged); tgt is a real iSCSI target and libiscsi-bin's iscsi-ls a
# userspace initiator that logs in to it (the kernel initiator cannot run here).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
apt_install open-iscsi tgt libiscsi-bin util-linux mount
