"""libvirt's own reasons: why a domain is in its state, and the failed starts it recorded.

Pure functions over plain data, plus one bounded file read (QEMU's per-domain log). Where
each fact comes from:

- the state reason: `state.reason` of the bulk stats the collector reads anyway, named
  after libvirt's constants (`VIR_DOMAIN_SHUTOFF_FAILED` -> `failed`);
- the time of a failed start or a crash: QEMU's log for the domain, where libvirt writes
  `shutting down, reason=failed` with a timestamp (qemu:///system on this machine, if the
  exporter may read /var/log/libvirt/qemu/NAME.log: 0600 root by default); else a
  lifecycle event the connection delivered (libvirt sends one for a crash, none for a
  start that failed before QEMU ran); else the collection that first saw the reason change;
- the message: QEMU's own error line in that log when QEMU itself refused to start
  (`Image is not in qcow2 format`). libvirtd's errors (`Failed to autostart VM ...: Cannot
  access storage file ...`) go to libvirtd's log (journald on systemd hosts), which the
  exporter does not read.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from exporter.collectors.start_failures import StartFailure, StartFailures

# virDomainState -> its reasons (virDomain<State>Reason), named after libvirt's constants
# VIR_DOMAIN_<STATE>_<REASON> lower-cased; IOERROR is spelled io_error.
REASONS: Mapping[int, Mapping[int, str]] = {
    0: {0: "unknown"},  # NOSTATE
    1: {  # RUNNING
        0: "unknown",
        1: "booted",
        2: "migrated",
        3: "restored",
        4: "from_snapshot",
        5: "unpaused",
        6: "migration_canceled",
        7: "save_canceled",
        8: "wakeup",
        9: "crashed",
        10: "postcopy",
        11: "postcopy_failed",
    },
    2: {0: "unknown"},  # BLOCKED
    3: {  # PAUSED
        0: "unknown",
        1: "user",
        2: "migration",
        3: "save",
        4: "dump",
        5: "io_error",
        6: "watchdog",
        7: "from_snapshot",
        8: "shutting_down",
        9: "snapshot",
        10: "crashed",
        11: "starting_up",
        12: "postcopy",
        13: "postcopy_failed",
        14: "api_error",
    },
    4: {0: "unknown", 1: "user"},  # SHUTDOWN
    5: {  # SHUTOFF
        0: "unknown",
        1: "shutdown",
        2: "destroyed",
        3: "crashed",
        4: "migrated",
        5: "saved",
        6: "failed",
        7: "from_snapshot",
        8: "daemon",
    },
    6: {0: "unknown", 1: "panicked"},  # CRASHED
    7: {0: "unknown"},  # PMSUSPENDED
}
# How virsh names the states (`virsh domstate --reason`: "shut off (failed)").
STATE_WORDS = {
    0: "no state",
    1: "running",
    2: "idle",
    3: "paused",
    4: "in shutdown",
    5: "shut off",
    6: "crashed",
    7: "pmsuspended",
}
SHUTOFF, CRASHED, PAUSED = 5, 6, 3


def reason_name(state: int, reason: int) -> str:
    """libvirt's name for a state's reason; a number newer than this table is `unknown`."""
    return REASONS.get(state, {}).get(reason, "unknown")


def is_failure(state: int, reason: int) -> bool:
    """A start that failed or a guest or QEMU that crashed: shut off (failed), shut off
    (crashed), crashed (any), paused (crashed)."""
    return (
        (state == SHUTOFF and reason_name(state, reason) in ("failed", "crashed"))
        or state == CRASHED
        or (state == PAUSED and reason_name(state, reason) == "crashed")
    )


def state_words(state: int, reason: int) -> str:
    """`shut off (failed)`, as virsh says it."""
    return f"{STATE_WORDS.get(state, 'no state')} ({reason_name(state, reason)})"


# Lifecycle events that mean a failed start or a crash: (event, detail) -> what they say.
# VIR_DOMAIN_EVENT_STOPPED (5) with _FAILED (5) or _CRASHED (2); VIR_DOMAIN_EVENT_CRASHED
# (8) with _PANICKED (0) or _CRASHLOADED (1).
FAILURE_EVENTS = {
    (5, 5): "shut off (failed)",
    (5, 2): "shut off (crashed)",
    (8, 0): "crashed (panicked)",
    (8, 1): "crashed (crashloaded)",
}


# --- QEMU's log ---------------------------------------------------------------------------
LOG_TAIL_BYTES = 16384
_SHUTDOWN_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+[+-]\d{4}): shutting down, reason=(\w+)"
)
_QEMU_ERROR = re.compile(r"^(?:\d{4}-\d\d-\d\dT[\d:.]+Z )?(?:\S*/)?qemu[\w.-]*: (.+)$")
_OPTION_PREFIX = re.compile(r"^-[\w-]+ (?:\{.*\}|\S+): (.+)$")


def qemu_log_dir(uri: str) -> Path | None:
    """Where libvirt keeps QEMU's per-domain logs for a local system connection."""
    parts = urlsplit(uri)
    if parts.scheme in ("qemu", "qemu+unix") and not parts.netloc and parts.path == "/system":
        return Path("/var/log/libvirt/qemu")
    return None


def parse_qemu_log(tail: str) -> tuple[float, str, str] | None:
    """(Unix time, libvirt's stop reason, QEMU's error or "") of the last time libvirt
    stopped the domain for `failed` or `crashed`, from the end of QEMU's log; None when
    the domain's last stop was another one (or the log says nothing)."""
    lines = tail.splitlines()
    for index in range(len(lines) - 1, -1, -1):
        stop = _SHUTDOWN_LINE.match(lines[index])
        if stop is None:
            continue
        when, why = stop.groups()
        if why not in ("failed", "crashed"):
            return None
        message = ""
        for earlier in reversed(lines[:index]):
            if _SHUTDOWN_LINE.match(earlier):
                break  # the start before: another attempt's lines
            error = _QEMU_ERROR.match(earlier)
            if error:
                detail = error.group(1)
                option = _OPTION_PREFIX.match(detail)
                message = option.group(1) if option else detail
                break
        stamp = datetime.strptime(when, "%Y-%m-%d %H:%M:%S.%f%z").timestamp()
        return stamp, why, message
    return None


def read_qemu_log(directory: Path, name: str) -> tuple[float, str, str] | None:
    """The last failed stop recorded in the domain's QEMU log; None where the log is not
    there or not readable by the exporter (it never asks for more rights)."""
    with contextlib.suppress(OSError), open(directory / f"{name}.log", "rb") as log:
        size = log.seek(0, 2)
        log.seek(max(0, size - LOG_TAIL_BYTES))
        tail = log.read().decode("utf-8", "replace")
        if size > LOG_TAIL_BYTES:
            tail = tail.partition("\n")[2]  # the first line is cut
        return parse_qemu_log(tail)
    return None


# --- Failures the collector saw ---------------------------------------------------------
class DomainView(Protocol):
    uuid: str
    state: int
    reason: int
    log_failure_at: float | None
    log_failure_message: str | None


def observe(
    failures: StartFailures[str],
    domains: list[DomainView],
    previous: Mapping[str, tuple[int, int]] | None,
    events: Mapping[str, tuple[float, str]],
    now: float,
) -> None:
    """Records each domain's latest failure from the best evidence at hand.

    `previous` maps a UUID to the (state, reason) of the last collection (None on the
    first); `events` a UUID to the time and words of the last FAILURE_EVENTS event;
    `now` is the Unix time of this collection. QEMU's log names the time libvirt stopped
    the domain and QEMU's message; without it an event gives the time; without either, a
    change to a failure state between two collections gives the time of the later one.
    """
    for dom in domains:
        words = state_words(dom.state, dom.reason)
        if dom.log_failure_at is not None:
            message = dom.log_failure_message
            reason = f"{words}: {message}" if message else words
            failures.record(dom.uuid, StartFailure(dom.log_failure_at, reason))
            continue
        event = events.get(dom.uuid)
        if event is not None:
            # The state says it better while it lasts (QEMU killed: the event says failed,
            # the state crashed); the event's own words once the domain moved on.
            said = words if is_failure(dom.state, dom.reason) else event[1]
            failures.record(dom.uuid, StartFailure(event[0], said))
            continue
        before = previous.get(dom.uuid) if previous is not None else None
        changed = before is not None and before != (dom.state, dom.reason)
        if changed and is_failure(dom.state, dom.reason):
            failures.record(dom.uuid, StartFailure(now, words))
