"""The Containerfile's structure, and that it agrees with the chart and the exporter.

No container engine runs on the test machines, so the image is not built here: these
checks read the Containerfile as a builder would and compare it with the chart's values.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from exporter import __version__
from exporter.cli import DEFAULT_LISTEN
from tests.conftest import ROOT
from tests.helm.conftest import CHART

CONTAINERFILE = ROOT / "Containerfile"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def run_text(self) -> str:
        return "\n".join(self.all("RUN"))


def parse(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """ARGs before the first FROM (with defaults) and the stages, continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Containerfile ends inside a continued line"
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif not stages:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            key, _, default = rest.partition("=")
            args[key] = default
        else:
            stages[-1].instructions.append((keyword, rest.strip()))
    return args, stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(CONTAINERFILE)[1]


@pytest.fixture(scope="module")
def values() -> dict[str, object]:
    loaded: dict[str, object] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


def apt_packages(stage: Stage) -> set[str]:
    packages: set[str] = set()
    for command in re.split(r"&&|;", stage.run_text()):
        words = shlex.split(command)
        if words[:2] == ["apt-get", "install"]:
            packages |= {w for w in words[2:] if not w.startswith("-")}
    return packages


def test_every_stage_is_debian_12(stages: list[Stage]) -> None:
    assert stages
    for stage in stages:
        assert re.fullmatch(r"(docker\.io/library/)?debian:(12|bookworm)(-slim)?", stage.base)


def test_build_stage_makes_the_venv_over_debian_python(stages: list[Stage]) -> None:
    build = next(s for s in stages if "libvirt-dev" in apt_packages(s))
    assert {"python3", "python3-venv", "pkg-config", "gcc"} <= apt_packages(build)
    run = build.run_text()
    # Debian's python3 makes the venv so that the runtime stage's python3-rados imports.
    assert "python3 -m venv --system-site-packages /opt/hypervisor-exporter" in run
    assert "/opt/hypervisor-exporter/bin/pip install --no-cache-dir -c constraints.txt ." in run
    # What the install reads is copied in, and not excluded from the build context.
    copied = {src for args in build.all("COPY") for src in args.split()[:-1]}
    assert {"pyproject.toml", "README.md", "constraints.txt", "exporter/"} <= copied
    ignore = [
        p for p in (ROOT / ".dockerignore").read_text().splitlines() if p and not p.startswith("#")
    ]
    for source in copied:
        assert (ROOT / source).exists(), source
        assert f"!{source}" in ignore or not any(fnmatch.fnmatch(source, p) for p in ignore)


def test_runtime_stage(stages: list[Stage], values: dict[str, object]) -> None:
    runtime = stages[-1]
    packages = apt_packages(runtime)
    assert {"python3", "libvirt0", "python3-rados", "ca-certificates"} <= packages
    assert not packages & {"gcc", "libvirt-dev", "python3-dev"}, "build tools in the image"
    assert "apt-get update" in runtime.run_text()
    assert "rm -rf /var/lib/apt/lists/*" in runtime.run_text()
    # The venv moves whole, to the same path its scripts' shebangs name.
    assert "--from=build /opt/hypervisor-exporter /opt/hypervisor-exporter" in runtime.all("COPY")
    entrypoint = yaml.safe_load(runtime.all("ENTRYPOINT")[-1])  # exec form: a JSON list
    assert entrypoint == ["/opt/hypervisor-exporter/bin/hypervisor-exporter"]


def test_runs_as_the_non_root_user_the_chart_expects(
    stages: list[Stage], values: dict[str, object]
) -> None:
    runtime = stages[-1]
    user = runtime.all("USER")[-1]
    uid, _, gid = user.partition(":")
    # Numeric, so that Kubernetes' runAsNonRoot can verify it without the image's passwd.
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    assert f"--uid {uid}" in runtime.run_text() and f"--gid {gid}" in runtime.run_text()
    pod = values["podSecurityContext"]
    assert isinstance(pod, dict)
    assert (pod["runAsUser"], pod["runAsGroup"]) == (int(uid), int(gid))
    assert pod["runAsNonRoot"] is True


def test_exposes_the_port_the_exporter_and_chart_use(
    stages: list[Stage], values: dict[str, object]
) -> None:
    port = int(DEFAULT_LISTEN.rsplit(":", 1)[1])
    assert stages[-1].all("EXPOSE") == [str(port)]
    assert values["containerPort"] == port
    service = values["service"]
    assert isinstance(service, dict) and service["port"] == port


def test_chart_image_defaults_point_at_this_image(values: dict[str, object]) -> None:
    image = values["image"]
    assert isinstance(image, dict)
    # The name `podman build -t hypervisor-exporter -f Containerfile .` gives the image,
    # as the Containerfile's header says; the tag defaults to the chart's appVersion.
    assert image["repository"] == "localhost/hypervisor-exporter"
    assert "build -t hypervisor-exporter -f Containerfile ." in CONTAINERFILE.read_text()
    assert image["tag"] == ""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == __version__
