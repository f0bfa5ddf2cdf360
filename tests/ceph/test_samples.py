"""The translation from monitor JSON to samples, on replies recorded from a real cluster."""

from __future__ import annotations

import copy
import re
import subprocess

import pytest

from exporter import families as fam
from exporter.collectors.ceph import CephDataError, cluster_samples
from exporter.metrics import SampleSet, render
from harness import exposition
from tests.ceph.conftest import STATES, recorded


def checks(samples: SampleSet) -> dict[str, str]:
    """{check: severity} of the active health checks."""
    return {
        check: severity for (_, check, severity) in samples.series.get(fam.CEPH_HEALTH_CHECK, {})
    }


def test_healthy_cluster() -> None:
    samples = cluster_samples("ceph", recorded("healthy"))
    assert samples.value(fam.CEPH_HEALTH_STATUS, target="ceph") == 0
    assert checks(samples) == {}
    for family in (fam.CEPH_OSDS, fam.CEPH_OSDS_UP, fam.CEPH_OSDS_IN):
        assert samples.value(family, target="ceph") == 3
    for osd in ("osd.0", "osd.1", "osd.2"):
        assert samples.value(fam.CEPH_OSD_UP, target="ceph", osd=osd) == 1
    pgs = samples.value(fam.CEPH_PGS, target="ceph")
    assert pgs is not None and pgs > 0
    assert samples.value(fam.CEPH_PGS_BY_STATE, target="ceph", state="active") == pgs
    assert samples.value(fam.CEPH_PGS_BY_STATE, target="ceph", state="clean") == pgs
    assert samples.value(fam.CEPH_MONITORS, target="ceph") == 1
    assert samples.value(fam.CEPH_MONITORS_IN_QUORUM, target="ceph") == 1
    fsid = recorded("healthy")["status"]["fsid"]
    assert samples.value(fam.CEPH_INFO, target="ceph", fsid=fsid) == 1


def test_one_osd_down() -> None:
    samples = cluster_samples("ceph", recorded("osd-down"))
    assert samples.value(fam.CEPH_HEALTH_STATUS, target="ceph") == 1
    assert checks(samples) == {"OSD_DOWN": "HEALTH_WARN", "PG_DEGRADED": "HEALTH_WARN"}
    assert samples.value(fam.CEPH_OSDS, target="ceph") == 3
    assert samples.value(fam.CEPH_OSDS_UP, target="ceph") == 2
    # `mon osd down out interval = 0` in the test cluster: a down OSD stays in.
    assert samples.value(fam.CEPH_OSDS_IN, target="ceph") == 3
    assert samples.value(fam.CEPH_OSD_UP, target="ceph", osd="osd.1") == 0
    assert samples.value(fam.CEPH_OSD_UP, target="ceph", osd="osd.0") == 1
    degraded = samples.value(fam.CEPH_PGS_BY_STATE, target="ceph", state="degraded")
    assert degraded is not None and degraded > 0
    assert samples.value(fam.CEPH_PGS_BY_STATE, target="ceph", state="clean") is None


def test_full_cluster_is_an_error() -> None:
    samples = cluster_samples("ceph", recorded("full"))
    assert samples.value(fam.CEPH_HEALTH_STATUS, target="ceph") == 2
    assert checks(samples)["OSD_FULL"] == "HEALTH_ERR"


def test_each_check_carries_the_clusters_own_summary() -> None:
    samples = cluster_samples("ceph", recorded("osd-down"))
    summaries = {
        check: (severity, summary)
        for (_, check, severity, summary) in samples.series[fam.CEPH_HEALTH_CHECK_INFO]
    }
    assert summaries == {
        "OSD_DOWN": ("HEALTH_WARN", "1 osds down"),
        "PG_DEGRADED": (
            "HEALTH_WARN",
            "Degraded data redundancy: 8/24 objects degraded (33.333%), 7 pgs degraded",
        ),
    }
    healthy = cluster_samples("ceph", recorded("healthy"))
    assert not healthy.series.get(fam.CEPH_HEALTH_CHECK_INFO)


def test_muted_check_is_reported_as_muted() -> None:
    replies = copy.deepcopy(recorded("osd-down"))
    replies["health"]["checks"]["PG_DEGRADED"]["muted"] = True
    samples = cluster_samples("ceph", replies)
    assert samples.value(fam.CEPH_HEALTH_CHECK_MUTED, target="ceph", check="PG_DEGRADED") == 1
    assert samples.value(fam.CEPH_HEALTH_CHECK_MUTED, target="ceph", check="OSD_DOWN") == 0


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda r: r["health"].pop("status"), "reply to 'health' has no status"),
        (lambda r: r["health"].update(status="HEALTH_MAYBE"), "unknown status 'HEALTH_MAYBE'"),
        (lambda r: r["osd_dump"].pop("osds"), "reply to 'osd dump' has no osds"),
        (lambda r: r["status"]["pgmap"].pop("num_pgs"), "reply to 'status' has no pgmap.num_pgs"),
        (lambda r: r["status"]["pgmap"].update(bytes_total="lots"), "bytes_total is not a number"),
        (lambda r: r["osd_dump"]["osds"][0].pop("osd"), "OSD entry without an id"),
        (lambda r: r["df"].pop("pools"), "reply to 'df' has no pools"),
        (lambda r: r["df"]["pools"][0]["stats"].update(stored="x"), "stored is not a number"),
        (
            lambda r: r["status"]["pgmap"].update(degraded_objects=None),
            "pgmap.degraded_objects is not a number",
        ),
    ],
)
def test_unexpected_replies_name_the_field(damage, message: str) -> None:  # type: ignore[no-untyped-def]
    replies = copy.deepcopy(recorded("healthy"))
    damage(replies)
    with pytest.raises(CephDataError, match=re.escape(message)):
        cluster_samples("ceph", replies)


@pytest.mark.parametrize("state", STATES)
def test_exposition_passes_promtool(state: str) -> None:
    text = render([cluster_samples("ceph", recorded(state))])
    assert exposition.value(text, "hypervisor_ceph_osds", target="ceph") == 3
    lint = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_pool_usage_is_ceph_df() -> None:
    replies = recorded("healthy")
    samples = cluster_samples("ceph", replies)
    pools = replies["df"]["pools"]
    assert {p["name"] for p in pools} == {"testpool", "device_health_metrics"}
    for pool in pools:
        labels = {"target": "ceph", "pool": pool["name"]}
        assert samples.value(fam.CEPH_POOL_STORED, **labels) == pool["stats"]["stored"]
        assert samples.value(fam.CEPH_POOL_AVAILABLE, **labels) == pool["stats"]["max_avail"]
        assert samples.value(fam.CEPH_POOL_OBJECTS, **labels) == pool["stats"]["objects"]
    # The harness seeds testpool with objects: a real, non-zero reading.
    assert samples.value(fam.CEPH_POOL_OBJECTS, target="ceph", pool="testpool") > 0  # type: ignore[operator]


def test_degraded_objects_while_an_osd_is_down() -> None:
    down = cluster_samples("ceph", recorded("osd-down"))
    pgmap = recorded("osd-down")["status"]["pgmap"]
    assert down.value(fam.CEPH_OBJECTS_DEGRADED, target="ceph") == pgmap["degraded_objects"] > 0
    assert down.value(fam.CEPH_OBJECTS_MISPLACED, target="ceph") == 0
    # Healthy: the monitors leave both out, which means none.
    assert "degraded_objects" not in recorded("healthy")["status"]["pgmap"]
    healthy = cluster_samples("ceph", recorded("healthy"))
    assert healthy.value(fam.CEPH_OBJECTS_DEGRADED, target="ceph") == 0
    assert healthy.value(fam.CEPH_OBJECTS_MISPLACED, target="ceph") == 0


def test_misplaced_objects_are_read_when_present() -> None:
    replies = copy.deepcopy(recorded("healthy"))
    replies["status"]["pgmap"].update(misplaced_objects=5, misplaced_total=24)
    samples = cluster_samples("ceph", replies)
    assert samples.value(fam.CEPH_OBJECTS_MISPLACED, target="ceph") == 5


def flags(samples: SampleSet) -> dict[str, float]:
    return {flag: v for (_, flag), v in samples.series.get(fam.CEPH_OSD_FLAG, {}).items()}


def test_noout_flag() -> None:
    healthy = flags(cluster_samples("ceph", recorded("healthy")))
    assert healthy["noout"] == 0 and healthy["nodown"] == 0
    assert set(healthy.values()) == {0}  # feature flags such as sortbitwise are left out
    assert "sortbitwise" not in healthy
    noout = flags(cluster_samples("ceph", recorded("noout")))
    assert {flag for flag, value in noout.items() if value == 1} == {"noout"}
    assert checks(cluster_samples("ceph", recorded("noout"))) == {"OSDMAP_FLAGS": "HEALTH_WARN"}


def test_flags_from_the_flag_string_of_older_releases() -> None:
    replies = copy.deepcopy(recorded("noout"))
    del replies["osd_dump"]["flags_set"]
    replies["osd_dump"]["flags"] = "noout,sortbitwise,norebalance,nosnaptrim"
    set_ = {f for f, v in flags(cluster_samples("ceph", replies)).items() if v == 1}
    assert set_ == {"noout", "norebalance", "nosnaptrim"}
