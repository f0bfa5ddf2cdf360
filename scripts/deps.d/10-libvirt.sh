#!/usr/bin/env bash
# libvirtd with the QEMU driver (TCG), run as root by the tests. libvirtd refuses to start
# without its service user and groups, and as root here it must not drop privileges or use
# a security driver (no SELinux/AppArmor in the sandbox).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
apt_install libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils
getent group kvm >/dev/null || groupadd -r kvm
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null || useradd -r -g kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
conf=/etc/libvirt/qemu.conf
mkdir -p /etc/libvirt
for setting in 'user = "root"' 'group = "root"' 'security_driver = "none"'; do
    key=${setting%% *}
    grep -qs "^$key = " "$conf" || echo "$setting" >> "$conf"
done
