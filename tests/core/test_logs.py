"""Log records as on-call reads them: logfmt or JSON, secrets scrubbed, floods cut."""

from __future__ import annotations

import json
import logging
import time

import pytest

from exporter import logs
from exporter.logs import JsonFormatter, LogfmtFormatter, RateLimitFilter


@pytest.fixture(autouse=True)
def no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "_secrets", {})
    monkeypatch.setattr(logs, "_long", [])
    monkeypatch.setattr(logs, "_short_pattern", None)


def record(
    msg: str, logger: str = "exporter.runner", level: int = logging.WARNING, **fields: object
) -> logging.LogRecord:
    made = logging.LogRecord(logger, level, __file__, 1, msg, None, None)
    made.created = 1764417600.25  # 2025-11-29T12:00:00.250Z
    made.msecs = 250
    made.fields = fields
    return made


def test_logfmt_quotes_only_what_needs_it() -> None:
    line = LogfmtFormatter().format(
        record("collection failed", target="kvm", reason='said "no" = x\\y\nz', empty="")
    )
    assert line == (
        'ts=2025-11-29T12:00:00.250Z level=warn logger=exporter.runner msg="collection failed"'
        ' target=kvm reason="said \\"no\\" = x\\\\y\\nz" empty=""'
    )


def test_json_has_the_same_fields() -> None:
    line = JsonFormatter().format(record("started", level=logging.INFO, targets=3))
    assert json.loads(line) == {
        "ts": "2025-11-29T12:00:00.250Z",
        "level": "info",
        "logger": "exporter.runner",
        "msg": "started",
        "targets": "3",
    }


def test_registered_secrets_never_reach_a_line() -> None:
    logs.register_secrets(["hunter22", "abc"])
    assert logs.scrub("login hunter22 failed for abc") == "login <redacted> failed for <redacted>"
    # A secret this short would mangle text inside words: it goes only where it stands alone.
    assert logs.scrub("abcd, xabc") == "abcd, xabc"
    try:
        raise ValueError("bad password hunter22")
    except ValueError as err:
        failed = record("connect hunter22", reason="hunter22 refused")
        failed.exc_info = (ValueError, err, None)
    for formatter in (LogfmtFormatter(), JsonFormatter()):
        line = formatter.format(failed)
        assert "hunter22" not in line and line.count("<redacted>") == 3, line


def test_floods_of_one_message_are_cut_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    limit = RateLimitFilter(burst=2, window=10)
    flood = [record("accept failed", logger="asyncio") for _ in range(5)]
    assert [limit.filter(r) for r in flood] == [True, True, False, False, False]
    # The exporter's own loggers are never limited.
    assert all(limit.filter(record("collection failed")) for _ in range(5))
    now[0] += 10
    after = record("accept failed", logger="asyncio")
    assert limit.filter(after)
    assert after.__dict__["fields"] == {"suppressed_similar": 3}
