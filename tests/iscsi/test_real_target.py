"""Names from a real iSCSI target, end to end.

tgtd serves two targets; the userspace initiator iscsi-ls logs in to each for real. The
kernel initiator cannot run here, so its record of those logins is laid out as a sysfs
tree (targetname, the portal as the lead connection's persistent address and port); the
real iscsiadm and the collector must then both report the target's own IQNs and portal.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter import families as fam
from harness import iscsiadm
from harness.iscsi_sysfs import build_tree
from harness.process import running
from harness.tgt import Tgt
from tests.iscsi.conftest import collect
from tests.iscsi.record_data import sessions_from_discovery

IQNS = ["iqn.2026-11.test.hypervisor-exporter:disk1", "iqn.2026-11.test.hypervisor-exporter:disk2"]


@pytest.mark.slow  # starts tgtd
def test_real_target_names_reach_the_metrics(tmp_path: Path) -> None:
    with running(Tgt(tmp_path)) as tgt:
        for tid, iqn in enumerate(IQNS, start=1):
            tgt.add_target(tid, iqn)
        found = sorted(tgt.discover(), key=lambda t: t.iqn)
        portal = f"127.0.0.1:{tgt.port}"
    assert [(t.iqn, t.portal) for t in found] == [(iqn, portal) for iqn in IQNS]
    assert all("1 DIRECT_ACCESS" in t.luns for t in found)

    root = build_tree(tmp_path / "sys", sessions_from_discovery(found))
    _, rendered = iscsiadm.session_tree(root)
    assert sorted(
        (s.iqn, s.persistent_portal, s.tpgt, len(s.disks)) for s in rendered.values()
    ) == [(iqn, portal, 1, 1) for iqn in IQNS]
    samples = collect(root)
    exported = sorted(
        (key[2], key[3], value) for key, value in samples.series[fam.ISCSI_SESSION_UP].items()
    )
    assert exported == [(iqn, portal, 1) for iqn in IQNS]
