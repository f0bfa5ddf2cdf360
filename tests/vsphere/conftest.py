"""Fixtures for the vSphere tests: the project's vCenter simulator, started per test (a
small inventory starts in under 0.1 s), and the real exporter process against it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.exporter import Exporter
from harness.vcsim import Vcsim
from tests.conftest import starts_peer

DATA = Path(__file__).parent / "data"


@pytest.fixture
@starts_peer
def start_vcsim(tmp_path: Path) -> Iterator[Callable[..., Vcsim]]:
    started: list[Vcsim] = []

    def start(**counts: Any) -> Vcsim:
        sim = Vcsim(tmp_path / "vcsim", **counts)
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def vcsim(start_vcsim: Callable[..., Vcsim]) -> Vcsim:
    """Three standalone hosts DC0_H0..H2 with six VMs each (DC0_H0_VM0..5), all running."""
    return start_vcsim(clusters=0, standalone=3, vms=6)


@pytest.fixture
def start_exporter(tmp_path: Path) -> Iterator[Callable[..., Exporter]]:
    started: list[Exporter] = []

    def start(targets: list[dict[str, Any]], *extra: str) -> Exporter:
        exporter = Exporter({"targets": targets}, tmp_path / "exporter", *extra)
        started.append(exporter)
        return exporter

    yield start
    for exporter in started:
        exporter.stop()
