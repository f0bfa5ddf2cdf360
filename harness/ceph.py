"""A throwaway Ceph cluster on loopback: 1 mon, 1 mgr, 3 memstore OSDs, auth off.

Every daemon runs in the foreground (`-f`) as a child of the test session, with all its
state (mon store, OSD dirs, admin sockets, logs, pid files) in one temp directory, so it
always stops with the tests and never meets another engineer's cluster on this machine.
Faults are injected only through the processes this harness started.
"""

from __future__ import annotations

import json
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any

from harness.process import Peer, PeerGroup, free_port, wait_until

# Settings that keep a one-host test cluster HEALTH_OK (see docs/ceph.md): no auth, no
# automatic out-marking (an OSD killed by a test stays "in"), replicas spread over OSDs on
# one host, and no warnings about a small disk or the missing global_id reclaim.
CONF = """\
[global]
fsid = {fsid}
mon host = [v2:127.0.0.1:{v2},v1:127.0.0.1:{v1}]
mon initial members = a
public addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = {auth}
auth service required = {auth}
auth client required = {auth}
auth allow insecure global id reclaim = false
run dir = {dir}/run
admin socket = {dir}/run/$cluster-$name.asok
pid file = {dir}/run/$name.pid
log file = {dir}/log/$name.log
mon cluster log file = {dir}/log/cluster.log
crash dir = {dir}/crash
mon data = {dir}/mon/$name
mgr data = {dir}/mgr/$name
osd data = {dir}/osd/$id
osd objectstore = memstore
memstore device bytes = 268435456
osd crush chooseleaf type = 0
osd pool default size = 3
osd pool default min size = 2
mon allow pool size one = true
mon allow pool delete = true
mon osd down out interval = 0
mon warn on osd down out interval zero = false
mon data avail warn = 1
mon osd full ratio = .95
mon osd backfillfull ratio = .90
mon osd nearfull ratio = .85
osd heartbeat grace = 5
osd heartbeat interval = 1
mgr stats period = 1
mon mgr beacon grace = 10

[client]
# Many short-lived clients (the ceph CLI, the exporter): no admin socket to collide on.
admin socket =
log file = {dir}/log/client.log
"""
CEPHX_ADMIN = """
[client.admin]
keyring = {dir}/admin.keyring
"""

# The ratios Ceph ships with; `reset_full_ratios` puts these back.
DEFAULT_RATIOS = {"nearfull": 0.85, "backfillfull": 0.90, "full": 0.95}
POOL = "testpool"
POOL_PGS = 16
MGR_POOL = "device_health_metrics"  # created by ceph-mgr's devicehealth module (Pacific)


class CephCluster(PeerGroup):
    """Start with `start()`, always `stop()` (or `with cluster.running()`); `conf` is what a
    Ceph target points at."""

    what = "ceph cluster"

    def __init__(self, base: Path, osds: int = 3, cephx: bool = False) -> None:
        """`osds=0` starts the monitor alone (no manager, no pools): enough for what a
        client reads from the monitors, in about a second. `cephx=True` turns
        authentication on; only with `osds=0` (daemon keys are not set up)."""
        if cephx and osds:
            raise ValueError("cephx is supported for a monitor-only cluster (osds=0)")
        self.cephx = cephx
        self.dir = base
        self.fsid = str(uuid.uuid4())
        self.v2_port, self.v1_port = free_port(), free_port()
        self.conf = base / "ceph.conf"
        self.log_dir = base / "log"
        self.osd_count = osds
        self.mon: Peer | None = None
        self.mgr: Peer | None = None
        self.osds: dict[int, Peer] = {}
        self._generation = 0  # makes restarted daemons' harness log names unique

    # --- lifecycle (start() and running() come with PeerGroup) ------------------------
    def _start(self, timeout: float) -> None:
        for sub in ("run", "log", "crash", "mon", "mgr", "osd"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        conf = CONF + (CEPHX_ADMIN if self.cephx else "")
        self.conf.write_text(
            conf.format(
                fsid=self.fsid,
                v2=self.v2_port,
                v1=self.v1_port,
                dir=self.dir,
                auth="cephx" if self.cephx else "none",
            )
        )
        monmap = self.dir / "monmap"
        addr = f"[v2:127.0.0.1:{self.v2_port},v1:127.0.0.1:{self.v1_port}]"
        self._run("monmaptool", "--create", "--fsid", self.fsid, "--addv", "a", addr, str(monmap))
        mkfs = ["ceph-mon", "-c", str(self.conf), "--mkfs", "-i", "a", "--monmap", str(monmap)]
        if self.cephx:
            mkfs += ["--keyring", str(self._cephx_keyrings())]
        self._run(*mkfs)
        self.start_mon()
        if self.osd_count == 0:
            return
        self.mgr = self._daemon("mgr.x", ["ceph-mgr", "-f", "-c", str(self.conf), "-i", "x"])
        for osd_id in range(self.osd_count):
            self._create_osd(osd_id)
        # A replicated pool with PGs on every OSD: killing one OSD degrades PGs like in a
        # real cluster (an empty cluster would only report OSD_DOWN).
        self.ceph("osd", "pool", "create", POOL, str(POOL_PGS), str(POOL_PGS))
        self.ceph("osd", "pool", "application", "enable", POOL, "rbd")
        # Objects in every PG's reach, so a down OSD leaves PGs degraded, not only undersized.
        for index in range(8):
            self._run(
                "rados", "-c", str(self.conf), "-p", POOL, "put", f"seed-{index}", str(self.conf)
            )
        # The manager creates its own pool once OSDs are up; wait for it so that it cannot
        # appear, with a PG not yet clean, after the cluster was declared healthy.
        wait_until(
            lambda: MGR_POOL in self.ceph_json("osd", "pool", "ls"), timeout, f"pool {MGR_POOL}"
        )
        self.wait_healthy(timeout)

    def _cephx_keyrings(self) -> Path:
        """The monitor's key and client.admin's (all caps), in the keyring mkfs seeds."""
        mon, admin = self.dir / "mon.keyring", self.dir / "admin.keyring"
        self._run(
            "ceph-authtool",
            "--create-keyring",
            str(mon),
            "--gen-key",
            "-n",
            "mon.",
            "--cap",
            "mon",
            "allow *",
        )
        self._run(
            "ceph-authtool",
            "--create-keyring",
            str(admin),
            "--gen-key",
            "-n",
            "client.admin",
            "--cap",
            "mon",
            "allow *",
            "--cap",
            "osd",
            "allow *",
            "--cap",
            "mgr",
            "allow *",
        )
        self._run("ceph-authtool", str(mon), "--import-keyring", str(admin))
        return mon

    def add_client(self, name: str, *caps: str) -> Path:
        """Creates client.NAME with `caps` (e.g. "mon", "allow r"); returns its keyring."""
        keyring = self.dir / f"client.{name}.keyring"
        self.ceph("auth", "get-or-create", f"client.{name}", *caps, "-o", str(keyring))
        return keyring

    def stop(self) -> None:
        for peer in [*self.osds.values(), self.mgr, self.mon]:
            if peer is not None:
                peer.stop()

    # --- daemons -----------------------------------------------------------------------
    def _daemon(self, name: str, argv: list[str]) -> Peer:
        self._generation += 1
        return Peer(f"ceph-{name}-{self._generation}", argv, self.log_dir)

    def _create_osd(self, osd_id: int) -> None:
        osd_uuid = str(uuid.uuid4())
        got = self.ceph("osd", "new", osd_uuid).strip()
        if got != str(osd_id):
            raise RuntimeError(f"ceph osd new gave id {got}, expected {osd_id}")
        (self.dir / "osd" / str(osd_id)).mkdir(exist_ok=True)
        self._run(
            "ceph-osd", "-c", str(self.conf), "-i", str(osd_id), "--mkfs", "--osd-uuid", osd_uuid
        )
        self.start_osd(osd_id)

    def start_mon(self) -> None:
        self.mon = self._daemon("mon.a", ["ceph-mon", "-f", "-c", str(self.conf), "-i", "a"])
        wait_until(lambda: self._alive(self.mon) and self._mon_answers(), 30, "ceph-mon")

    def start_osd(self, osd_id: int) -> None:
        self.osds[osd_id] = self._daemon(
            f"osd.{osd_id}", ["ceph-osd", "-f", "-c", str(self.conf), "-i", str(osd_id)]
        )

    def kill_osd(self, osd_id: int, sig: int = signal.SIGKILL) -> None:
        """Ends one OSD as a crash (SIGKILL) or a clean stop (SIGTERM); waits for its exit."""
        peer = self.osds[osd_id]
        peer.signal(sig)
        peer.proc.wait(30)
        peer.stop()

    def stop_osd(self, osd_id: int) -> None:
        self.kill_osd(osd_id, signal.SIGTERM)

    def restart_osd(self, osd_id: int) -> None:
        if self.osds[osd_id].alive():
            self.stop_osd(osd_id)
        self.start_osd(osd_id)

    def pause_mon(self) -> None:
        assert self.mon is not None
        self.mon.signal(signal.SIGSTOP)

    def resume_mon(self) -> None:
        assert self.mon is not None
        self.mon.signal(signal.SIGCONT)

    def stop_mon(self) -> None:
        """Ends the monitor (SIGCONT first if paused); `start_mon` brings it back."""
        assert self.mon is not None
        self.mon.stop()

    @staticmethod
    def _alive(peer: Peer | None) -> bool:
        if peer is None or not peer.alive():
            raise RuntimeError(
                f"{peer.name if peer else 'daemon'} exited:\n{peer.log_tail() if peer else ''}"
            )
        return True

    # --- the ceph CLI ------------------------------------------------------------------
    def _run(self, *argv: str, timeout: float = 60) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} failed ({done.returncode}): "
                f"{done.stderr.strip() or done.stdout.strip()}"
            )
        return done.stdout

    def ceph(self, *args: str, timeout: float = 30) -> str:
        """Runs the ceph CLI against this cluster only (its own conf, a bounded wait)."""
        return self._run(
            "ceph",
            "-c",
            str(self.conf),
            "--connect-timeout",
            str(int(timeout)),
            *args,
            timeout=timeout + 5,
        )

    def ceph_json(self, *args: str) -> Any:
        return json.loads(self.ceph(*args, "--format", "json"))

    def _mon_answers(self) -> bool:
        self.ceph("mon", "stat", timeout=5)
        return True

    # --- waiting for states ------------------------------------------------------------
    def status(self) -> Any:
        return self.ceph_json("status")

    def health(self) -> str:
        return str(self.status()["health"]["status"])

    def wait_healthy(self, timeout: float = 90) -> None:
        """Waits for HEALTH_OK, every OSD up and in, and every PG active+clean."""

        def healthy() -> bool:
            for peer in [self.mon, self.mgr, *self.osds.values()]:
                self._alive(peer)
            # Every PG of every pool in the OSD map, not only those the PG map has seen yet.
            expected = sum(p["pg_num"] for p in self.ceph_json("osd", "pool", "ls", "detail"))
            st = self.status()
            osdmap = st["osdmap"]
            pgmap = st["pgmap"]
            clean = sum(
                s["count"]
                for s in pgmap.get("pgs_by_state", [])
                if s["state_name"] == "active+clean"
            )
            return bool(
                st["health"]["status"] == "HEALTH_OK"
                and osdmap["num_up_osds"] == osdmap["num_osds"] == self.osd_count
                and osdmap["num_in_osds"] == self.osd_count
                and pgmap["num_pgs"] == expected
                and clean == expected
            )

        wait_until(healthy, timeout, "ceph cluster healthy with all PGs active+clean", interval=0.5)

    def wait_osds_up(self, count: int, timeout: float = 30) -> None:
        wait_until(
            lambda: self.status()["osdmap"]["num_up_osds"] == count,
            timeout,
            f"{count} OSDs up",
            interval=0.3,
        )

    def set_full_ratios(self, nearfull: float, backfillfull: float, full: float) -> None:
        # Ceph refuses nearfull > backfillfull > full orderings only with a warning;
        # keep them ordered so the only check raised is the one a test expects.
        self.ceph("osd", "set-nearfull-ratio", str(nearfull))
        self.ceph("osd", "set-backfillfull-ratio", str(backfillfull))
        self.ceph("osd", "set-full-ratio", str(full))

    def set_tiny_full_ratios(self) -> None:
        """Every OSD counts as full: HEALTH_ERR with OSD_FULL."""
        self.set_full_ratios(0.00001, 0.00002, 0.00003)

    def reset_full_ratios(self) -> None:
        self.set_full_ratios(**DEFAULT_RATIOS)
