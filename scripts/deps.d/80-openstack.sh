#!/usr/bin/env bash
# A throwaway OpenStack for the openstack collector's tests (harness/openstack.py):
# Keystone 22, Placement 8, Glance 25, Neutron 21 (ML2, Linux bridge agent), Nova 26 (Zed)
# with its fake virt driver, and RabbitMQ, all from Debian 12's main archive. Only the
# Python packages are installed, not the daemon packages (keystone, nova-api, nova-compute,
# neutron-server, ...): those add init scripts and a debconf/dbconfig-common postinst that
# configures system-wide databases under /etc and /var/lib, while the tests run every
# service themselves, as root, from a temp dir with SQLite databases; the console scripts
# they add are one-line wrappers around the modules the harness runs. uWSGI serves the WSGI
# APIs (Keystone, Placement, Nova's compute API) as Debian does. RabbitMQ's postinst starts
# its service where policy-rc.d allows it; the tests run their own node on free ports, so a
# node (and Erlang's port mapper) the install started is stopped again.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh

policy=/usr/sbin/policy-rc.d
own_policy=
if [ ! -e "$policy" ]; then
    # No service may start during this install; removed again below.
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    own_policy=1
fi
trap '[ -n "$own_policy" ] && rm -f "$policy"' EXIT

apt_install rabbitmq-server mariadb-server python3-pymysql uwsgi-core uwsgi-plugin-python3 \
    python3-keystone python3-placement python3-nova python3-glance python3-neutron \
    python3-openstackclient

# A node started by the package (where policy-rc.d was not in the way) would hold epmd's
# and AMQP's default ports; the tests use their own node on free ports.
if command -v rabbitmqctl >/dev/null && rabbitmqctl -q status >/dev/null 2>&1; then
    rabbitmqctl -q stop >/dev/null 2>&1 || true
fi
# The install leaves Erlang's port mapper running when no node is registered with it.
if command -v epmd >/dev/null && ! epmd -names 2>/dev/null | grep -q '^name '; then
    epmd -kill >/dev/null 2>&1 || true
fi
if command -v update-rc.d >/dev/null && [ -e /etc/init.d/rabbitmq-server ]; then
    update-rc.d rabbitmq-server disable >/dev/null 2>&1 || true
fi
