"""libvirt's state reasons and failed starts: the pure parts, on libvirt's own constants and
on QEMU logs recorded from a real libvirtd (tests/libvirt/data/qemu-log-*.log)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import libvirt
import pytest

from exporter import families as fam
from exporter.collectors import libvirt_reasons as reasons
from exporter.collectors.libvirt import Domain, Snapshot, observe_failures, snapshot_samples
from exporter.collectors.start_failures import StartFailure, StartFailures
from exporter.derive import MESSAGE_MAX, bounded_message

DATA = Path(__file__).parent / "data"
STATES = {
    0: "NOSTATE",
    1: "RUNNING",
    2: "BLOCKED",
    3: "PAUSED",
    4: "SHUTDOWN",
    5: "SHUTOFF",
    6: "CRASHED",
    7: "PMSUSPENDED",
}
# Constants that share a reason enum's prefix but are something else: virDomainShutdownFlagValues
# and the disk variant of PMSUSPENDED.
NOT_REASONS = {
    "VIR_DOMAIN_SHUTDOWN_DEFAULT",
    "VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN",
    "VIR_DOMAIN_SHUTDOWN_GUEST_AGENT",
    "VIR_DOMAIN_SHUTDOWN_INITCTL",
    "VIR_DOMAIN_SHUTDOWN_SIGNAL",
    "VIR_DOMAIN_SHUTDOWN_PARAVIRT",
    "VIR_DOMAIN_PMSUSPENDED_DISK_UNKNOWN",
}


def constant(state: int, name: str) -> str:
    return f"VIR_DOMAIN_{STATES[state]}_{'IOERROR' if name == 'io_error' else name.upper()}"


def test_reason_names_are_libvirts_constants() -> None:
    for state, table in reasons.REASONS.items():
        for number, name in table.items():
            const = constant(state, name)
            if hasattr(libvirt, const):  # reasons newer than the installed libvirt aside
                assert getattr(libvirt, const) == number, const
    # ...and every reason the installed libvirt has is named.
    for const in dir(libvirt):
        for state, word in STATES.items():
            if const.startswith(f"VIR_DOMAIN_{word}_") and const not in NOT_REASONS:
                if const.endswith("_LAST"):
                    continue
                number = getattr(libvirt, const)
                assert const == constant(state, reasons.reason_name(state, number)), const


def test_reasons_say_what_virsh_says() -> None:
    assert reasons.reason_name(libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_FAILED) == (
        "failed"
    )
    assert reasons.reason_name(libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_IOERROR) == (
        "io_error"
    )
    assert reasons.reason_name(libvirt.VIR_DOMAIN_RUNNING, 99) == "unknown"  # from the future
    assert reasons.state_words(5, 6) == "shut off (failed)"
    assert reasons.state_words(6, 1) == "crashed (panicked)"
    failing = {(s, r) for s, t in reasons.REASONS.items() for r in t if reasons.is_failure(s, r)}
    assert failing == {(5, 6), (5, 3), (6, 0), (6, 1), (3, 10)}


def stamp(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f%z").timestamp()


def test_qemu_log_of_a_start_that_libvirt_refused() -> None:
    # The disk was gone: libvirt stopped the domain before QEMU ran, QEMU wrote nothing.
    when, why, message = reasons.read_qemu_log(DATA, "qemu-log-missing-disk") or (0, "", "")
    assert (why, message) == ("failed", "")
    assert when == stamp("2026-11-29 22:09:21.653+0000")


def test_qemu_log_of_a_start_that_qemu_refused() -> None:
    when, why, message = reasons.read_qemu_log(DATA, "qemu-log-bad-image") or (0, "", "")
    assert (why, message) == ("failed", "Image is not in qcow2 format")
    assert datetime.fromtimestamp(when, UTC).isoformat() == "2026-11-29T22:09:52.648000+00:00"


def test_qemu_log_of_a_killed_qemu_and_of_a_clean_stop() -> None:
    logged = reasons.read_qemu_log(DATA, "qemu-log-killed")
    assert logged is not None and logged[1:] == ("crashed", "")
    clean = (DATA / "qemu-log-killed.log").read_text() + (
        "2026-11-29 23:00:00.000+0000: starting up libvirt version: 9.0.0\n"
        "2026-11-29 23:10:00.000+0000: shutting down, reason=destroyed\n"
    )
    assert reasons.parse_qemu_log(clean) is None  # its last stop was not a failure
    assert reasons.read_qemu_log(DATA, "no-such-domain") is None


def test_only_system_connections_have_qemu_logs_here() -> None:
    assert reasons.qemu_log_dir("qemu:///system") == Path("/var/log/libvirt/qemu")
    for uri in ("qemu+ssh://kvm01/system", "qemu:///session", "test:///default"):
        assert reasons.qemu_log_dir(uri) is None


def test_a_reason_is_bounded() -> None:
    long = "Cannot access storage file\n   " + "x" * 500
    bounded = bounded_message(long)
    assert len(bounded) == MESSAGE_MAX and bounded.endswith("…")
    assert bounded.startswith("Cannot access storage file x")


@dataclass
class Dom:
    uuid: str
    state: int
    reason: int
    log_failure_at: float | None = None
    log_failure_message: str | None = None


def test_failures_from_log_event_and_state_change() -> None:
    failures: StartFailures[str] = StartFailures(window=3600)
    now = 1_800_000_000.0
    previous = {"a": (1, 1), "b": (1, 1), "c": (5, 0), "d": (1, 1)}
    domains: list[reasons.DomainView] = [
        Dom("a", 5, 6, now - 30, "Image is not in qcow2 format"),  # the log knows
        Dom("b", 5, 3),  # QEMU killed: the event came first, the state says crashed
        Dom("c", 5, 6),  # only the state changed: the collection's time
        Dom("d", 1, 1),  # running: nothing
        Dom("e", 5, 6),  # first seen already failed, nothing else known: no time to give
    ]
    events = {"b": (now - 5, "shut off (failed)")}
    reasons.observe(failures, domains, previous, events, now)
    assert failures.get("a") == StartFailure(
        now - 30, "shut off (failed): Image is not in qcow2 format"
    )
    assert failures.get("b") == StartFailure(now - 5, "shut off (crashed)")
    assert failures.get("c") == StartFailure(now, "shut off (failed)")
    assert failures.get("d") is None and failures.get("e") is None
    # Later collections keep the same failures; the window drops them.
    reasons.observe(failures, domains, {"c": (5, 6)}, events, now + 10)
    assert failures.get("c") == StartFailure(now, "shut off (failed)")
    failures.expire(now + 3600 - 10)
    assert {k for k in "abcde" if failures.get(k)} == {"b", "c"}
    failures.expire(now + 3601)
    assert len(failures) == 0


def test_samples_carry_reason_and_failure() -> None:
    def snap(wall: float, state: int, reason: int) -> Snapshot:
        dom = Domain("web", "u-1", state, True, {}, reason=reason)
        return Snapshot(
            taken_at=wall, hostname="kvm", hypervisor="QEMU 7.2.0", domains=[dom], wall_time=wall
        )

    failures: StartFailures[str] = StartFailures()
    before, after = snap(1000.0, 1, 1), snap(1015.0, 5, 6)
    observe_failures(failures, before, None)
    first = snapshot_samples("kvm", before, None, failures)
    labels = {"target": "kvm", "host": "kvm", "vm": "web"}
    assert first.value(fam.VM_POWER_STATE_REASON, **labels, reason="booted") == 1
    assert fam.VM_START_FAILURE_TIMESTAMP not in first.series
    observe_failures(failures, after, before)
    second = snapshot_samples("kvm", after, before, failures)
    assert second.value(fam.VM_POWER_STATE_REASON, **labels, reason="failed") == 1
    assert len(second.series[fam.VM_POWER_STATE_REASON]) == 1
    assert second.value(fam.VM_START_FAILURE_TIMESTAMP, **labels) == 1015.0
    assert second.value(fam.VM_START_FAILURE_INFO, **labels, reason="shut off (failed)") == 1


@pytest.mark.parametrize("window", [60.0])
def test_window_applies_to_collections(window: float) -> None:
    failures: StartFailures[str] = StartFailures(window)
    failures.record("x", StartFailure(0.0, "old"))
    failures.record("x", StartFailure(-10.0, "older: ignored"))
    assert failures.get("x") == StartFailure(0.0, "old")
    failures.expire(window + 1)
    assert failures.get("x") is None
