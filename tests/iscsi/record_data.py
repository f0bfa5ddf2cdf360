"""Regenerates the recorded snapshots in tests/iscsi/data (run as root, needs tgt):

    .venv/bin/python -m tests.iscsi.record_data

mixed.json: the standard fixture tree. before-5.7.json: the same sessions as a kernel
before 5.7 shows them (no connection state). tgt-login.json: two targets of a real tgtd
as `iscsi-ls` discovered and logged in to them, laid out as the kernel initiator records
a login (targetname, and the portal as the connection's persistent address and port).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict
from pathlib import Path

from exporter.collectors.iscsi import read_snapshot
from harness.iscsi_sysfs import Connection, Session, build_tree, standard_sessions
from harness.process import running
from harness.tgt import Discovered, Tgt

DATA = Path(__file__).parent / "data"


def sessions_from_discovery(found: list[Discovered], first_sid: int = 1) -> list[Session]:
    out = []
    for sid, target in enumerate(found, start=first_sid):
        address, _, port = target.portal.rpartition(":")
        disks = sum(1 for lun in target.luns if lun.endswith("DIRECT_ACCESS"))
        out.append(
            Session(
                sid,
                target.iqn,
                "LOGGED_IN",
                tpgt=target.tpgt,
                luns=disks,
                connections=[Connection(0, "up", address, int(port))],
            )
        )
    return out


def _record(name: str, sessions: list[Session], note: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        snapshot = read_snapshot(str(build_tree(Path(tmp) / "sys", sessions)))
    body = {"_note": note, **asdict(snapshot), "root": "/sys"}
    (DATA / name).write_text(json.dumps(body, indent=1, sort_keys=True) + "\n")


def main() -> None:
    DATA.mkdir(exist_ok=True)
    _record(
        "mixed.json",
        list(standard_sessions()),
        "harness/iscsi_sysfs.py standard_sessions(), read by read_snapshot",
    )
    old = list(standard_sessions())
    for session in old:
        for conn in session.connections:
            conn.state = None
    _record("before-5.7.json", old, "standard_sessions() without connection state files")
    with tempfile.TemporaryDirectory() as tmp, running(Tgt(Path(tmp))) as tgt:
        tgt.add_target(1, "iqn.2026-11.test.hypervisor-exporter:disk1")
        tgt.add_target(2, "iqn.2026-11.test.hypervisor-exporter:disk2")
        found = sorted(tgt.discover(), key=lambda t: t.iqn)
    _record(
        "tgt-login.json",
        sessions_from_discovery(found),
        f"tgt 1.0.85 targets as iscsi-ls -s discovered them: {[asdict(t) for t in found]}",
    )


if __name__ == "__main__":
    main()
