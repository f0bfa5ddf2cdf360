"""Shared fixtures. Each area's own fixtures live in its folder's conftest.py.

`make unit` (`-m "not slow"`) starts no peer. Two rules keep it so:
- a fixture that starts a peer is decorated `@starts_peer` (under `@pytest.fixture`), and
  every test that uses it, directly or through other fixtures, is marked `slow` when the
  tests are collected;
- a test not marked slow that starts a peer anyway (in its body, or through a fixture that
  lacks `@starts_peer`) fails with harness.process.PeerRefused naming the peer.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import settings

from harness.libvirtd import Libvirtd, exclusive_libvirtd
from harness.process import refusing_peers

ROOT = Path(__file__).resolve().parent.parent

# Property tests run 300 examples each; `make unit` loads the "quick" profile
# (--hypothesis-profile=quick), 30 each, which keeps the loop under a minute.
settings.register_profile("thorough", max_examples=300)
settings.register_profile("quick", max_examples=30)
settings.load_profile("thorough")

PEER_FIXTURES: set[Callable[..., object]] = set()
F = TypeVar("F", bound=Callable[..., object])


def starts_peer(fixture: F) -> F:
    """Declares that a fixture starts a real peer: the tests using it are `slow`."""
    PEER_FIXTURES.add(fixture)
    return fixture


def uses_peer(item: pytest.Item) -> bool:
    """Whether a fixture the test uses, directly or through others, starts a peer. By the
    fixture that applies to this test, not by name: fixtures of one name differ by folder."""
    if not isinstance(item, pytest.Function):
        return False
    visible = item._fixtureinfo.name2fixturedefs
    return any(defs[-1].func in PEER_FIXTURES for defs in visible.values() if defs)


@pytest.hookimpl(tryfirst=True)  # before -m "not slow" deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if uses_peer(item):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    if item.get_closest_marker("slow") is not None:
        return (yield)
    with refusing_peers(f"{item.nodeid} is not marked slow"):
        return (yield)


@pytest.fixture(scope="session")
@starts_peer
def libvirtd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Libvirtd]:
    """The machine's libvirtd with QEMU, started once for the whole session (one per machine)."""
    with exclusive_libvirtd(tmp_path_factory.mktemp("libvirtd")) as daemon:
        yield daemon


@pytest.fixture(autouse=True)
def scrubber_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets a test registers (every parsed config registers its own) stay in that test:
    short ones would otherwise be scrubbed from the strings later tests compare."""
    from exporter import logs

    monkeypatch.setattr(logs, "_secrets", dict(logs._secrets))
    monkeypatch.setattr(logs, "_long", list(logs._long))
    monkeypatch.setattr(logs, "_short_pattern", logs._short_pattern)
