"""A real libvirtd with the QEMU driver (TCG), owned by the test session.

There is one system libvirtd per machine, so a lock file serialises test sessions that
need it; whoever holds the lock may clean up a daemon a crashed session left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import libvirt

from harness.process import Peer, starting, wait_until

URI = "qemu:///system"
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # failures raise; no stderr noise
LOCK = Path("/run/lock/hypervisor-exporter-libvirtd.lock")
AUTOSTARTED_MARKER = Path("/run/libvirt/qemu/autostarted")
PIDFILES = (Path("/run/libvirtd.pid"), Path("/run/virtlogd.pid"))
# Every domain the harness defines carries this description, so that what an interrupted
# session left behind can be removed without touching anyone else's domains.
TEST_DOMAIN_MARKER = "hypervisor-exporter test domain"

DOMAIN_XML = """
<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <description>{marker}</description>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='ethernet'>
      <target dev='{tap}' managed='yes'/>
      <model type='virtio'/>
    </interface>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <memballoon model='virtio'/>
  </devices>
</domain>
"""


def _gone(path: Path) -> Callable[[], bool]:
    return lambda: not path.exists()


def _kill_stale_daemons() -> None:
    """Whoever holds the lock owns the machine's libvirtd: what an interrupted session left
    (daemons, and QEMU processes possibly still SIGSTOPped by a test) goes first."""
    for pidfile in Path("/run/libvirt/qemu").glob("*.pid"):
        with contextlib.suppress(OSError, ValueError):
            pid = int(pidfile.read_text().strip())
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)
    for pidfile in PIDFILES:
        with contextlib.suppress(OSError, ValueError):
            pid = int(pidfile.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            wait_until(_gone(Path(f"/proc/{pid}")), 10, f"stale pid {pid}")


class Libvirtd:
    """virtlogd + libvirtd in the foreground; `host_boot()` restarts libvirtd as a host boot."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.uri = URI
        self._virtlogd: Peer | None = None
        self._libvirtd: Peer | None = None
        self._domains: list[str] = []

    def start(self) -> None:
        if self._virtlogd is None or not self._virtlogd.alive():
            self._virtlogd = Peer("virtlogd", ["virtlogd"], self.workdir)
            wait_until(lambda: Path("/run/libvirt/virtlogd-sock").exists(), 10, "virtlogd")
        self._libvirtd = Peer("libvirtd", ["libvirtd"], self.workdir)
        self._libvirtd.wait_ready(self._answers, timeout=30)

    def remove_leftover_domains(self) -> None:
        """Test domains an interrupted session left defined (found by their marker)."""
        conn = self.connect()
        try:
            for dom in conn.listAllDomains():
                with contextlib.suppress(libvirt.libvirtError):
                    if TEST_DOMAIN_MARKER not in dom.XMLDesc(0):
                        continue
                    if dom.isActive():
                        dom.destroy()
                    dom.undefine()
        finally:
            conn.close()

    def _answers(self) -> bool:
        conn = libvirt.open(self.uri)
        try:
            return bool(conn.getVersion())
        finally:
            conn.close()

    def stop_libvirtd(self) -> None:
        if self._libvirtd is not None:
            self._libvirtd.stop()
            self._libvirtd = None

    def host_boot(self) -> None:
        """What libvirt sees of a host boot: libvirtd starts with no autostart marker, so it
        starts every autostart domain (once, as after a real boot)."""
        self.stop_libvirtd()
        AUTOSTARTED_MARKER.unlink(missing_ok=True)
        self.start()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            conn = libvirt.open(self.uri)
            for name in self._domains:
                with contextlib.suppress(libvirt.libvirtError):
                    dom = conn.lookupByName(name)
                    if dom.isActive():
                        dom.destroy()
                    dom.undefine()
            conn.close()
        self.stop_libvirtd()
        if self._virtlogd is not None:
            self._virtlogd.stop()

    def connect(self) -> Any:
        return libvirt.open(self.uri)

    def define_domain(
        self, name: str, *, autostart: bool = False, start: bool = False, disk_mb: int = 16
    ) -> Path:
        """Defines a tiny TCG domain with a qcow2 disk and a tap interface; returns its disk."""
        disk = self.workdir / f"{name}.qcow2"
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", str(disk), f"{disk_mb}M"], check=True
        )
        tap = f"hx{uuid.uuid4().hex[:8]}"
        xml = DOMAIN_XML.format(
            name=name, uuid=uuid.uuid4(), disk=disk, tap=tap, marker=TEST_DOMAIN_MARKER
        )
        conn = self.connect()
        try:
            dom = conn.defineXML(xml)
            self._domains.append(name)
            if autostart:
                dom.setAutostart(1)
            if start:
                dom.create()
        finally:
            conn.close()
        return disk

    def domain_state(self, name: str) -> int:
        conn = self.connect()
        try:
            return int(conn.lookupByName(name).state()[0])
        finally:
            conn.close()


@contextlib.contextmanager
def exclusive_libvirtd(workdir: Path, timeout: float = 1800) -> Iterator[Libvirtd]:
    """The system libvirtd for this test session alone (waits for other sessions)."""
    starting("libvirtd")
    if shutil.which("libvirtd") is None:
        raise RuntimeError("libvirtd is not installed: run scripts/install-test-deps.sh")
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK, "w") as lock:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError("another test session holds the libvirtd lock") from None
                time.sleep(1)
        _kill_stale_daemons()
        daemon = Libvirtd(workdir)
        try:
            daemon.start()
            daemon.remove_leftover_domains()
            yield daemon
        finally:
            daemon.stop()
