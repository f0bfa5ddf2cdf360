"""Shared fixtures. Each area's own fixtures live in its folder's conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.libvirtd import Libvirtd, exclusive_libvirtd

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(scope="session")
def libvirtd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Libvirtd]:
    """The machine's libvirtd with QEMU, started once for the whole session (one per machine)."""
    with exclusive_libvirtd(tmp_path_factory.mktemp("libvirtd")) as daemon:
        yield daemon
