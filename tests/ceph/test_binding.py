"""Without librados' Python binding the Ceph target is down with an error that says which
package provides it, and the exporter's other targets are served as usual."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness import exposition
from harness.exporter import Exporter
from harness.process import running


def hide_rados(where: Path) -> dict[str, str]:
    """Environment for a Python on which `import rados` fails as on a machine without
    python3-rados (the venv's other packages stay visible, unlike a venv made without
    --system-site-packages, which would also lose the Debian packages the venv uses)."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "sitecustomize.py").write_text("import sys\nsys.modules['rados'] = None\n")
    env = {"PYTHONPATH": str(where)}
    probe = subprocess.run(
        [sys.executable, "-c", "import exporter, aiohttp; import rados"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )
    assert "ModuleNotFoundError" in probe.stderr and "rados" in probe.stderr, probe.stderr
    return env


def test_missing_binding_names_the_package(tmp_path: Path) -> None:
    env = hide_rados(tmp_path / "hide")
    conf = tmp_path / "ceph.conf"
    conf.write_text("[global]\nmon host = 127.0.0.1:1\n")
    config = {
        "targets": [
            {"name": "ceph", "kind": "ceph", "conf": str(conf), "timeout": 2},
            {"name": "demo", "kind": "libvirt", "uri": "test:///default"},
        ]
    }
    with running(Exporter(config, tmp_path, env=env)) as peer:
        text = peer.metrics()
        assert exposition.value(text, "hypervisor_target_up", target="ceph") == 0
        assert exposition.value(text, "hypervisor_target_up", target="demo") == 1
        _, page = peer.get("/")
        assert "python3-rados" in page and "--system-site-packages" in page, page
    assert "python3-rados" in peer.log_path.read_text()
