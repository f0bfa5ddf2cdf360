"""Building and running OCI images with buildah, without a container engine or registry.

buildah runs as root with chroot isolation and vfs storage in a private directory of the
test session (nothing is left in the machine's own image store). The base image is made by
mmdebstrap from the Debian mirror, so nothing comes from an image registry.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.process import Peer, starting

DEBIAN_MIRROR = "http://deb.debian.org"


class Buildah:
    def __init__(self, workdir: Path) -> None:
        starting("buildah")
        self.workdir = workdir
        self.base = [
            "buildah",
            "--root",
            str(workdir / "storage"),
            "--runroot",
            str(workdir / "run"),
            "--storage-driver",
            "vfs",
        ]

    def __call__(self, *args: str, timeout: float = 600) -> str:
        result = subprocess.run(
            [*self.base, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"buildah {' '.join(args[:3])} failed ({result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout

    def debian_base(self, name: str, suite: str = "bookworm") -> str:
        """A minimal Debian image from the mirror, trusting this machine's CA bundle so that
        pip inside a build verifies through the same TLS proxy the machine uses."""
        rootfs = self.workdir / f"{suite}.tar"
        subprocess.run(
            [
                "mmdebstrap",
                "--variant=minbase",
                "--mode=root",
                "--quiet",
                suite,
                str(rootfs),
                f"deb {DEBIAN_MIRROR}/debian {suite} main",
                f"deb {DEBIAN_MIRROR}/debian {suite}-updates main",
                f"deb {DEBIAN_MIRROR}/debian-security {suite}-security main",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        container = self("from", "scratch").strip()
        self("add", container, str(rootfs), "/")
        self("copy", container, "/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/build-ca.crt")
        self("config", "--env", "PIP_CERT=/etc/ssl/build-ca.crt", container)
        self("commit", "--quiet", container, name)
        self("rm", container)
        rootfs.unlink()
        return name

    def build(
        self, context: Path, containerfile: Path, tag: str, build_args: dict[str, str]
    ) -> str:
        args = [f"--build-arg={k}={v}" for k, v in build_args.items()]
        self(
            "bud",
            "--isolation",
            "chroot",
            "--network",
            "host",
            "--pull-never",
            "--layers=false",
            "-f",
            str(containerfile),
            "-t",
            tag,
            *args,
            str(context),
            timeout=1200,
        )
        return tag

    def container(self, image: str) -> str:
        return self("from", "--pull-never", image).strip()

    def run(self, container: str, argv: Sequence[str]) -> str:
        return self("run", "--isolation", "chroot", "--network", "host", container, "--", *argv)

    def spawn(self, container: str, argv: Sequence[str], log_dir: Path, name: str) -> Peer:
        """A long-running process in the container (the host's network), owned by the test."""
        return Peer(
            name,
            [
                *self.base,
                "run",
                "--isolation",
                "chroot",
                "--network",
                "host",
                container,
                "--",
                *argv,
            ],
            log_dir,
        )

    def image_config(self, image: str) -> dict[str, Any]:
        """The image's OCI config: User, ExposedPorts, Entrypoint, Env, ..."""
        config: dict[str, Any] = json.loads(self("inspect", "--type", "image", image))["OCIv1"][
            "config"
        ]
        return config

    def cleanup(self) -> None:
        subprocess.run([*self.base, "rm", "--all"], capture_output=True, timeout=120, check=False)
        subprocess.run(
            [*self.base, "rmi", "--all", "--force"], capture_output=True, timeout=300, check=False
        )
        shutil.rmtree(self.workdir, ignore_errors=True)
