"""Re-records tests/openstack/data/ from a throwaway OpenStack:
`.venv/bin/python -m tests.openstack.record`.

Captures exactly the API answers the collector reads (exporter.collectors.openstack.read),
in four states of one cloud:

- `steady`: web-1 and web-2 active, db stopped through the API, never (a flavor no host
  can take: vm_state error, no host), retired (stopped, its image deactivated) and
  orphan (stopped, its image deleted);
- `host-boot`: nova-compute restarted with resume_guests_state_on_host_boot = false, so
  the fake hypervisor has forgotten every instance and Nova's power-state sync has set
  web-1 and web-2 to NOSTATE while their vm_state is still active;
- `compute-down`: nova-compute stopped and reported down by Nova;
- `agent-down`: nova-compute back, the Linux bridge agent stopped and reported dead.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

from exporter.collectors.openstack import compute_microversion, read
from harness.openstack import OpenStackCloud
from harness.process import wait_until

DATA = Path(__file__).resolve().parent / "data"


def main() -> None:
    DATA.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="openstack-record-") as tmp:
        cloud = OpenStackCloud(Path(tmp))
        cloud.start()
        try:
            cloud.seed()
            conn = cloud.connect()
            microversion = compute_microversion(conn)

            def record(state: str) -> None:
                answers = dataclasses.asdict(read(conn, microversion))
                (DATA / f"{state}.json").write_text(json.dumps(answers, indent=1) + "\n")
                print(state, len(answers["servers"]), "servers")

            web = cloud.create_server("web", count=2)
            (db,) = cloud.create_server("db")
            cloud.stop_server(db)
            cloud.create_server("never", never=True)
            retired_image = cloud.create_image("retired-image")
            (retired,) = cloud.create_server("retired", image=retired_image)
            cloud.stop_server(retired)
            cloud.set_image_status(retired_image, active=False)
            gone_image = cloud.create_image("gone-image")
            (orphan,) = cloud.create_server("orphan", image=gone_image)
            cloud.stop_server(orphan)
            cloud.delete_image(gone_image)
            record("steady")

            cloud.restart_compute()
            wait_until(
                lambda: all(cloud.server(i).power_state == 0 for i in web),
                60,
                "Nova's power-state sync: web instances NOSTATE",
            )
            record("host-boot")

            cloud.stop_compute()
            cloud.wait_compute_down()
            record("compute-down")

            cloud.start_compute()
            cloud.wait_compute_up()
            cloud.stop_agent()
            cloud.wait_agent(alive=False)
            record("agent-down")
            conn.close()
        finally:
            cloud.stop()


if __name__ == "__main__":
    main()
