"""`make unit` starts no peer: the harness refuses, and the tests that need one are slow."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.exporter import Exporter
from harness.process import Peer, PeerRefused, refusing_peers, running
from tests.conftest import uses_peer


def test_a_peer_refuses_to_start_in_a_test_not_marked_slow(tmp_path: Path) -> None:
    # This test is not slow: tests/conftest.py runs it inside refusing_peers.
    with pytest.raises(PeerRefused, match=r"sleeper would start here, but .*not marked slow"):
        Peer("sleeper", ["sleep", "60"], tmp_path)
    assert not (tmp_path / "sleeper.log").exists(), "refused before anything started"


def test_the_exporter_itself_may_run_in_quick_tests(tmp_path: Path) -> None:
    with refusing_peers("quick test"), running(Exporter(None, tmp_path)) as exporter:
        assert "hypervisor_target_up" in exporter.metrics()
    with refusing_peers("quick test"), pytest.raises(PeerRefused, match="python-http"):
        Peer("python-http", [sys.executable, "-m", "http.server"], tmp_path)


def test_every_test_using_a_peer_fixture_is_slow(request: pytest.FixtureRequest) -> None:
    items = request.session.items
    assert not [i.nodeid for i in items if uses_peer(i) and not i.get_closest_marker("slow")]
    if request.config.option.markexpr == "not slow":  # make unit: marked before deselection
        assert not [i.nodeid for i in items if i.get_closest_marker("slow")]
