"""Node files for libvirt's test driver (`test:///path/to/node.xml`): a fake hypervisor
whose domains sit in whatever power state the caller names."""

from __future__ import annotations


def node_xml(domains: dict[str, int]) -> str:
    """A test-driver node with one domain per name, in its virDomainState (test:runstate)."""
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
