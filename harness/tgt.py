"""A real iSCSI target (Linux tgt's tgtd) on a free loopback port, owned by the test session.

tgtd is managed over a unix socket named by its control port (/var/run/tgtd/socket.N);
each instance gets its own N so parallel tests and other users' tgtd never collide.
`iscsi-ls` (libiscsi-bin) is a userspace initiator that logs in to it for real.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.process import Peer, free_port


@dataclass(frozen=True)
class Discovered:
    iqn: str
    portal: str  # address:port
    tpgt: int
    luns: tuple[str, ...]  # "1 DIRECT_ACCESS", ...


class Tgt(Peer):
    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.control = self._free_control_port()
        super().__init__(
            f"tgtd-{self.port}",
            ["tgtd", "-f", "-C", str(self.control), "--iscsi", f"portal=127.0.0.1:{self.port}"],
            log_dir,
        )
        self.log_dir = log_dir
        self.tids: list[int] = []
        self.wait_ready(self._answers, timeout=15)

    @staticmethod
    def _free_control_port() -> int:
        # tgtd takes 0..32767; the default 0 is the system's tgtd, so stay well above it.
        while True:
            candidate = random.randint(2000, 32767)
            if not os.path.exists(f"/var/run/tgtd/socket.{candidate}"):
                return candidate

    def stop(self, timeout: float = 10) -> None:
        # tgtd ignores SIGTERM; it exits when asked over its control socket, which it
        # refuses while targets exist.
        if self.alive():
            with contextlib.suppress(Exception):
                for tid in self.tids:
                    self.admin("--mode", "target", "--op", "delete", "--force", "--tid", str(tid))
                self.admin_mode("system", "--op", "delete")
                self.proc.wait(5)
        super().stop(timeout=3)
        for leftover in (f"socket.{self.control}", f"socket.{self.control}.lock"):
            with contextlib.suppress(OSError):
                os.unlink(f"/var/run/tgtd/{leftover}")

    def admin_mode(self, mode: str, *args: str) -> str:
        proc = subprocess.run(
            ["tgtadm", "-C", str(self.control), "--mode", mode, *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"tgtadm --mode {mode} {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def admin(self, *args: str) -> str:
        proc = subprocess.run(
            ["tgtadm", "-C", str(self.control), "--lld", "iscsi", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"tgtadm {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def _answers(self) -> bool:
        self.admin("--mode", "target", "--op", "show")
        return True

    def add_target(self, tid: int, iqn: str, size_mib: int = 8) -> None:
        backing = self.log_dir / f"tgt-{self.port}-lun{tid}.img"
        with open(backing, "wb") as f:
            f.truncate(size_mib << 20)
        self.admin("--mode", "target", "--op", "new", "--tid", str(tid), "--targetname", iqn)
        self.tids.append(tid)
        self.admin(
            "--mode",
            "logicalunit",
            "--op",
            "new",
            "--tid",
            str(tid),
            "--lun",
            "1",
            "--backing-store",
            str(backing),
        )
        self.admin(
            "--mode", "target", "--op", "bind", "--tid", str(tid), "--initiator-address", "ALL"
        )

    def discover(self) -> list[Discovered]:
        """Logs in with iscsi-ls (discovery, then a normal session per target for its LUNs)."""
        proc = subprocess.run(
            ["iscsi-ls", "-s", f"iscsi://127.0.0.1:{self.port}/"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"iscsi-ls failed: {proc.stderr.strip()}")
        found: list[Discovered] = []
        for block in re.split(r"(?m)^(?=Target:)", proc.stdout):
            match = re.match(r"Target:(\S+) Portal:(.*):(\d+),(\d+)", block)
            if not match:
                continue
            luns = tuple(f"{m[0]} {m[1]}" for m in re.findall(r"Lun:(\d+)\s+Type:(\w+)", block))
            found.append(Discovered(match[1], f"{match[2]}:{match[3]}", int(match[4]), luns))
        return found
