"""Fixtures of the core tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exporter.collectors import Kind, register, unregister
from tests.core.fake_kind import KIND, FakeCollector, FakeTarget


@pytest.fixture
def fake_kind() -> Iterator[Kind[FakeTarget]]:
    """The fake kind, registered for one test."""
    FakeCollector.made.clear()
    register(KIND)
    yield KIND
    unregister(KIND)
