from __future__ import annotations

from pathlib import Path

import pytest

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


def node_xml(domains: dict[str, int]) -> str:
    body = "".join(
        f"""
  <domain type="test">
    <name>{name}</name>
    <memory>65536</memory>
    <vcpu>1</vcpu>
    <os><type>hvm</type></os>
    <test:runstate>{state}</test:runstate>
  </domain>"""
        for name, state in domains.items()
    )
    return f"""<node xmlns:test="http://libvirt.org/schemas/domain/test/1.0">
  <cpu><mhz>2000</mhz><model>i686</model><active>4</active><nodes>1</nodes>
    <sockets>1</sockets><cores>2</cores><threads>2</threads></cpu>
  <memory>8192000</memory>{body}
</node>
"""


@pytest.fixture
def node_uri(tmp_path: Path) -> str:
    path = tmp_path / "node.xml"
    path.write_text(node_xml(DOMAINS))
    return f"test://{path}"
