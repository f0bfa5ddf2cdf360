"""End to end: a VM that fails to autostart on a real libvirtd pages through a real
Prometheus (the shipped rules, `for:` and grace shortened in a rendered copy) and a real
Alertmanager (the shipped example routing, receivers pointed at a local webhook); starting
the VM resolves the page.

The host boot is libvirt's own: libvirtd restarted without its once-per-boot marker starts
every autostart domain, and one whose disk is gone stays shut off.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest

from harness.libvirtd import Libvirtd, exclusive_libvirtd
from harness.process import wait_until
from tests.alerts.webhook import FOR, alert_path

pytestmark = pytest.mark.slow

SHUT_OFF, RUNNING = 5, 1  # virDomainState


def test_failed_autostart_pages_and_starting_the_vm_resolves_it(tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:6]
    web, ok, manual = f"hxa-web-{suffix}", f"hxa-ok-{suffix}", f"hxa-manual-{suffix}"
    with exclusive_libvirtd(tmp_path / "libvirtd") as libvirtd:
        # Before the boot: web and ok have autostart and run, manual has none and is off.
        web_disk = libvirtd.define_domain(web, autostart=True, start=True)
        libvirtd.define_domain(ok, autostart=True, start=True)
        libvirtd.define_domain(manual)
        target = {"name": "kvm-e2e", "kind": "libvirt", "uri": libvirtd.uri}
        with alert_path(tmp_path, [target]) as path:
            webhook = path.webhook
            path.wait_running(web)

            host_boot_with_lost_disk(libvirtd, web, ok, web_disk)
            booted = time.monotonic()
            assert libvirtd.domain_state(web) == SHUT_OFF, "web should have failed to start"
            wait_until(lambda: libvirtd.domain_state(ok) == RUNNING, 30, "ok autostarted")

            page, alert = webhook.wait_for_alert(
                "firing", "HypervisorVMAutostartFailed", 90, vm=web
            )
            page_latency = page.received_at - booted
            assert page.receiver == "/pager", "critical alerts go to the pager receiver"
            assert alert["labels"]["severity"] == "critical"
            assert alert["labels"]["target"] == "kvm-e2e"
            assert f"VM {web} on host" in alert["annotations"]["description"]
            # It leads with libvirt's own reason: the start at boot failed.
            assert alert["annotations"]["description"].startswith("libvirt: shut off (failed). ")
            # The description quotes the for: in force (the rendered copy's, not the shipped).
            assert (
                "has autostart enabled but has been stopped for more than 3 seconds"
                in alert["annotations"]["description"]
            )
            assert alert["annotations"]["runbook_url"].endswith(
                "/docs/runbooks/HypervisorVMAutostartFailed.md"
            )

            # Starting the VM (its disk restored) resolves the page.
            subprocess.run(
                ["qemu-img", "create", "-q", "-f", "qcow2", str(web_disk), "16M"], check=True
            )
            conn = libvirtd.connect()
            try:
                conn.lookupByName(web).create()
            finally:
                conn.close()
            started = time.monotonic()
            resolved, _ = webhook.wait_for_alert(
                "resolved", "HypervisorVMAutostartFailed", 90, after=started, vm=web
            )
            resolve_latency = resolved.received_at - started

            # Neither the VM that autostarted nor the one without autostart ever paged.
            wrong = [
                (note.receiver, alert["labels"])
                for vm in (ok, manual)
                for note, alert in webhook.alerts(alertname="HypervisorVMAutostartFailed", vm=vm)
            ]
            assert not wrong, f"paged for VMs that must not page: {wrong}"
            print(
                f"\nlatency host boot -> page: {page_latency:.1f}s (for: {FOR}, scrape and"
                f" evaluation 1s, group_wait 1s); VM start -> resolved: {resolve_latency:.1f}s"
                f"\npage: {alert['annotations']['description']}"
            )


def host_boot_with_lost_disk(libvirtd: Libvirtd, web: str, ok: str, web_disk: Path) -> None:
    """Power loss, then boot: the guests die with the host, web's disk does not come back
    (an unmounted volume, a storage path that did not log in), libvirtd starts afresh."""
    conn = libvirtd.connect()
    try:
        for name in (web, ok):
            conn.lookupByName(name).destroy()
    finally:
        conn.close()
    web_disk.unlink()
    libvirtd.host_boot()
