"""The real exporter process against the session's real Ceph cluster, fault by fault.

The tests run in file order and each undoes its fault, leaving the cluster HEALTH_OK with
every PG active+clean; the monitor test comes last because it takes the cluster down.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest

from harness import exposition
from harness.ceph import POOL, CephCluster
from harness.exporter import Exporter
from harness.process import running

pytestmark = pytest.mark.slow

TIMEOUT = 3.0  # the Ceph target's timeout: how long a hung monitor may hold a scrape


@pytest.fixture(scope="module")
def exporter(
    ceph_cluster: CephCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Exporter]:
    config = {
        "targets": [
            {"name": "ceph", "kind": "ceph", "conf": str(ceph_cluster.conf), "timeout": TIMEOUT},
            {"name": "demo", "kind": "libvirt", "uri": "test:///default"},
        ]
    }
    with running(Exporter(config, tmp_path_factory.mktemp("exporter"))) as peer:
        yield peer


def ceph_value(text: str, name: str, **labels: str) -> float:
    return exposition.value(text, f"hypervisor_ceph_{name}", target="ceph", **labels)


def active_checks(text: str) -> dict[str, str]:
    return {
        labels["check"]: labels["severity"]
        for labels, value in exposition.parse(text).get("hypervisor_ceph_health_check", [])
        if labels["target"] == "ceph" and value == 1
    }


def scrape_until(
    exporter: Exporter, done: Callable[[str], bool], what: str, timeout: float = 60
) -> str:
    """Scrapes like Prometheus would until `done` holds; returns that exposition."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = exporter.metrics()
        if exposition.value(text, "hypervisor_target_up", target="ceph") == 1 and done(text):
            return text
        time.sleep(0.5)
    raise AssertionError(
        f"exporter never showed {what}; last scrape:\n"
        + "\n".join(line for line in text.splitlines() if "ceph" in line)
    )


def test_healthy_cluster(exporter: Exporter) -> None:
    text = exporter.metrics()
    assert exposition.value(text, "hypervisor_target_up", target="ceph", kind="ceph") == 1
    assert ceph_value(text, "health_status") == 0
    assert active_checks(text) == {}
    assert (ceph_value(text, "osds"), ceph_value(text, "osds_up"), ceph_value(text, "osds_in")) == (
        3,
        3,
        3,
    )
    for osd in ("osd.0", "osd.1", "osd.2"):
        assert ceph_value(text, "osd_up", osd=osd) == 1
    assert ceph_value(text, "pgs_by_state", state="clean") == ceph_value(text, "pgs")


def test_pool_usage_matches_ceph_df(exporter: Exporter, ceph_cluster: CephCluster) -> None:
    """Per-pool objects and stored bytes are what `ceph df --format json` prints."""
    before = ceph_cluster.ceph_json("df")["pools"]
    seeded = next(p["stats"]["objects"] for p in before if p["name"] == POOL)
    for index in range(5):  # fresh writes: the numbers must follow, not stay as seeded
        subprocess.run(
            ["rados", "-c", str(ceph_cluster.conf), "-p", POOL, "put", f"df-{index}", __file__],
            check=True,
            timeout=30,
        )

    def agree(text: str) -> bool:
        df = ceph_cluster.ceph_json("df")
        for pool in df["pools"]:
            labels = {"target": "ceph", "pool": pool["name"]}
            ours = (
                exposition.value(text, "hypervisor_ceph_pool_objects", **labels),
                exposition.value(text, "hypervisor_ceph_pool_stored_bytes", **labels),
                exposition.value(text, "hypervisor_ceph_pool_available_bytes", **labels) > 0,
            )
            if ours != (pool["stats"]["objects"], pool["stats"]["stored"], True):
                return False
        return len(df["pools"]) == len(
            exposition.values(text, "hypervisor_ceph_pool_objects", target="ceph")
        )

    # The monitors refresh pool stats every second: scrape until a scrape and the `ceph df`
    # right after it read the same digest (and that digest has seen the writes).
    text = scrape_until(
        exporter,
        lambda t: ceph_value(t, "pool_objects", pool=POOL) == seeded + 5 and agree(t),
        "pool usage equal to ceph df",
    )
    assert ceph_value(text, "pool_stored_bytes", pool=POOL) > 0
    assert ceph_value(text, "objects_degraded") == 0
    assert ceph_value(text, "osd_flag", flag="noout") == 0


def test_noout_flag(exporter: Exporter, ceph_cluster: CephCluster) -> None:
    ceph_cluster.ceph("osd", "set", "noout")
    try:
        scrape_until(exporter, lambda t: ceph_value(t, "osd_flag", flag="noout") == 1, "noout")
    finally:
        ceph_cluster.ceph("osd", "unset", "noout")
    scrape_until(exporter, lambda t: ceph_value(t, "osd_flag", flag="noout") == 0, "noout unset")
    ceph_cluster.wait_healthy()


def test_osd_killed_then_restarted(exporter: Exporter, ceph_cluster: CephCluster) -> None:
    ceph_cluster.kill_osd(1, signal.SIGKILL)
    try:
        text = scrape_until(
            exporter,
            lambda t: ceph_value(t, "osds_up") == 2 and "OSD_DOWN" in active_checks(t),
            "one OSD down",
        )
        assert ceph_value(text, "osds") == 3
        assert ceph_value(text, "osd_up", osd="osd.1") == 0
        assert ceph_value(text, "osd_up", osd="osd.0") == 1
        assert ceph_value(text, "health_status") == 1
        assert active_checks(text)["OSD_DOWN"] == "HEALTH_WARN"
        # The cluster's own words for it, as `ceph health` prints them.
        summaries = [
            labels["summary"]
            for labels, _ in exposition.parse(text)["hypervisor_ceph_health_check_info"]
            if labels["check"] == "OSD_DOWN"
        ]
        assert summaries == ["1 osds down"]
        text = scrape_until(
            exporter, lambda t: ceph_value(t, "objects_degraded") > 0, "degraded objects"
        )
    finally:
        ceph_cluster.restart_osd(1)
    ceph_cluster.wait_healthy()
    text = scrape_until(
        exporter, lambda t: ceph_value(t, "health_status") == 0, "health back to OK"
    )
    assert "OSD_DOWN" not in active_checks(text)
    assert ceph_value(text, "osds_up") == 3
    assert ceph_value(text, "osd_up", osd="osd.1") == 1


def test_tiny_full_ratios_are_an_error(exporter: Exporter, ceph_cluster: CephCluster) -> None:
    ceph_cluster.set_tiny_full_ratios()
    try:
        text = scrape_until(exporter, lambda t: ceph_value(t, "health_status") == 2, "HEALTH_ERR")
        assert active_checks(text)["OSD_FULL"] == "HEALTH_ERR"
    finally:
        ceph_cluster.reset_full_ratios()
    ceph_cluster.wait_healthy()
    scrape_until(exporter, lambda t: ceph_value(t, "health_status") == 0, "health back to OK")


def test_monitor_hung_then_gone(exporter: Exporter, ceph_cluster: CephCluster) -> None:
    """A monitor that stops answering makes the target down within its timeout; the
    libvirt target of the same exporter is served all along; the connection recovers."""
    scrape_until(exporter, lambda t: True, "ceph up")  # the connection is open and kept

    def down_and_other_served() -> None:
        started = time.monotonic()
        # A scrape that waited on the monitor would hit this client timeout and fail.
        status, text = exporter.get("/metrics", timeout=TIMEOUT + 5)
        assert status == 200
        assert exposition.value(text, "hypervisor_target_up", target="ceph") == 0
        assert exposition.value(text, "hypervisor_target_up", target="demo") == 1
        assert exposition.values(text, "hypervisor_vm_info", target="demo")
        assert not exposition.values(text, "hypervisor_ceph_health_status")
        duration = exposition.value(
            text, "hypervisor_target_scrape_duration_seconds", target="ceph"
        )
        assert duration <= TIMEOUT + 0.5, f"ceph collection took {duration}s"
        assert time.monotonic() - started < TIMEOUT + 5

    def reason() -> str:
        status, page = exporter.get("/")
        assert status == 200
        return page

    ceph_cluster.pause_mon()
    try:
        down_and_other_served()
        # librados gives up on the hung monitor by itself, before the target's timeout: the
        # worker is free again and the error says what librados saw, not "blocked".
        page = reason()
        assert "ETIMEDOUT" in page or "RADOS timed out" in page, page
        assert "blocked" not in page, page
        down_and_other_served()
        assert "RADOS timed out (error connecting to the cluster)" in reason()
        ceph_cluster.stop_mon()
        down_and_other_served()
        assert "RADOS timed out (error connecting to the cluster)" in reason()
    finally:
        if not ceph_cluster.mon or not ceph_cluster.mon.alive():
            ceph_cluster.start_mon()
        else:
            ceph_cluster.resume_mon()
    ceph_cluster.wait_healthy()
    scrape_until(
        exporter,
        lambda t: ceph_value(t, "health_status") == 0,
        "ceph up again after the monitor came back",
    )
