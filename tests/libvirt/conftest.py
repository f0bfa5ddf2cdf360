from __future__ import annotations

from pathlib import Path

import pytest

from harness.libvirt_node import node_xml

# One domain per virDomainState the test driver can hold (test:runstate), named after the
# power state the exporter must report for it.
DOMAINS = {
    "vm-running": 1,
    "vm-blocked": 2,
    "vm-paused": 3,
    "vm-shutting-down": 4,
    "vm-shutoff": 5,
    "vm-crashed": 6,
    "vm-pmsuspended": 7,
}
EXPECTED_POWER = {
    "vm-running": "running",
    "vm-blocked": "running",
    "vm-paused": "paused",
    "vm-shutting-down": "running",
    "vm-shutoff": "stopped",
    "vm-crashed": "crashed",
    "vm-pmsuspended": "suspended",
}


@pytest.fixture
def node_uri(tmp_path: Path) -> str:
    path = tmp_path / "node.xml"
    path.write_text(node_xml(DOMAINS))
    return f"test://{path}"
