"""The real `iscsiadm -m session -P 3`, made to read a fixture tree as if it were /sys.

The tree is bind-mounted over /sys in a private mount namespace (and a private network
namespace, so iscsiadm cannot reach any iscsid another process runs here). Needs root.
Without iscsid, iscsiadm asks for each session's connection state, waits about 1 s, and
prints "Unknown": that line comes from iscsid's memory, never from sysfs.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from harness.process import starting


@dataclass
class RenderedSession:
    sid: int
    iqn: str
    flash: bool
    current_portal: str
    persistent_portal: str
    tpgt: int
    session_state: str = ""
    connection_state: str = ""
    recovery_timeout: int | None = None
    host: int | None = None
    host_state: str = ""
    disks: dict[str, str] = field(default_factory=dict)  # sdX -> SCSI device state


def run(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    # The incumbent tool counts as a peer: it waits about a second per session for an iscsid.
    starting("iscsiadm")
    # Without iscsid, iscsiadm runs `/bin/systemctl start iscsid.socket`; on a machine run
    # by systemd that would touch the host's units, so systemctl is /bin/true in here.
    script = (
        'mount --bind "$1" /sys && shift'
        " && { [ ! -e /bin/systemctl ] || mount --bind /bin/true /bin/systemctl; }"
        ' && exec iscsiadm "$@"'
    )
    return subprocess.run(
        [
            "unshare",
            "--mount",
            "--net",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
            str(root),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def session_tree(root: Path) -> tuple[str, dict[int, RenderedSession]]:
    """iscsiadm -m session -P 3 on the tree: its stdout, and the sessions parsed from it."""
    proc = run(root, "-m", "session", "-P", "3")
    assert proc.returncode == 0, f"iscsiadm failed ({proc.returncode}): {proc.stderr}"
    return proc.stdout, parse_tree(proc.stdout)


_PORTAL = re.compile(r"(.*):(\d+),(-?\d+)")


def _portal(text: str) -> tuple[str, int]:
    match = _PORTAL.fullmatch(text)
    assert match, f"unexpected portal {text!r}"
    return f"{match.group(1)}:{match.group(2)}", int(match.group(3))


def parse_tree(text: str) -> dict[int, RenderedSession]:
    """Sessions by SID from the `-P 3` tree: Target, then portals, then one block per SID."""
    sessions: dict[int, RenderedSession] = {}
    iqn, flash, current, persistent, tpgt = "", False, "", "", 0
    session: RenderedSession | None = None
    for raw in text.splitlines():
        line = raw.strip()
        key, _, value = line.partition(": ")
        if key == "Target":
            name, _, kind = value.partition(" (")
            iqn, flash = name, kind.rstrip(")") == "flash"
        elif key == "Current Portal":
            current, tpgt = _portal(value)
        elif key == "Persistent Portal":
            persistent, _ = _portal(value)
        elif key == "SID":
            session = RenderedSession(int(value), iqn, flash, current, persistent, tpgt)
            sessions[session.sid] = session
        elif session is None:
            continue
        elif key == "iSCSI Session State":
            session.session_state = value
        elif key == "iSCSI Connection State":
            session.connection_state = value
        elif key == "Recovery Timeout":
            session.recovery_timeout = int(value)
        elif line.startswith("Host Number:"):
            match = re.fullmatch(r"Host Number: (\d+)\s+State: (.*)", line)
            assert match, line
            session.host, session.host_state = int(match.group(1)), match.group(2)
        elif line.startswith("Attached scsi disk"):
            match = re.fullmatch(r"Attached scsi disk (\S+)\s+State: (.*)", line)
            assert match, line
            session.disks[match.group(1)] = match.group(2)
    return sessions
