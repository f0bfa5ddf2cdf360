"""Re-records tests/ceph/data/ from a throwaway cluster: `.venv/bin/python -m tests.ceph.record`.

Captures exactly the mon_command JSON the collector reads, in four states: healthy, one
OSD killed (OSD_DOWN and PG_DEGRADED), full ratios set tiny (HEALTH_ERR, OSD_FULL), and
`noout` set as for maintenance (OSDMAP_FLAGS).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import rados

from exporter.collectors.ceph import COMMANDS
from harness.ceph import CephCluster
from harness.process import wait_until

DATA = Path(__file__).resolve().parent / "data"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ceph-record-") as tmp:
        cluster = CephCluster(Path(tmp))
        cluster.start()
        client = rados.Rados(conffile=str(cluster.conf), rados_id="admin")
        try:
            client.connect()

            def ask(key: str) -> Any:
                ret, out, err = client.mon_command(json.dumps(COMMANDS[key]), b"")
                assert ret == 0, err
                return json.loads(out)

            def record(state: str) -> None:
                for key in COMMANDS:
                    path = DATA / f"{state}-{key}.json"
                    path.write_text(json.dumps(ask(key), indent=1) + "\n")
                print(state, ask("health")["status"], sorted(ask("health")["checks"]))

            record("healthy")
            cluster.kill_osd(1)
            wait_until(
                lambda: {"OSD_DOWN", "PG_DEGRADED"} <= set(ask("health")["checks"]),
                60,
                "OSD_DOWN and PG_DEGRADED",
            )
            record("osd-down")
            cluster.start_osd(1)
            cluster.wait_healthy()
            cluster.set_tiny_full_ratios()
            wait_until(lambda: ask("health")["status"] == "HEALTH_ERR", 60, "HEALTH_ERR")
            record("full")
            cluster.reset_full_ratios()
            cluster.wait_healthy()
            cluster.ceph("osd", "set", "noout")
            wait_until(lambda: "OSDMAP_FLAGS" in ask("health")["checks"], 60, "OSDMAP_FLAGS")
            record("noout")
        finally:
            client.shutdown()
            cluster.stop()


if __name__ == "__main__":
    main()
