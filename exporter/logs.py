"""Logging in logfmt or JSON, with every configured secret scrubbed from every record.

Collectors never log secrets on purpose; the scrubber is the second line of defence for
library messages that might echo a credential back (a URL with a password, a fault text).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import Any

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
REDACTED = "<redacted>"

# Every secret value ever seen (rotated password files add theirs), newest last; bounded.
_secrets: dict[str, None] = {}
_long: list[str] = []  # longest first, so a secret containing another goes whole
_short_pattern: re.Pattern[str] | None = None
MAX_SECRETS = 1000
# Secrets of 1-3 characters would mangle any text if replaced wherever they occur ("ab" in
# "about"); they are replaced where they stand alone, between non-alphanumeric characters
# (`password=ab;`, `'ab'`), which is how a server echoes a credential back.
SHORT = 4


def register_secrets(values: Iterable[str]) -> None:
    """Values that must never be printed: every log line and every error shown is scrubbed."""
    global _short_pattern, _long
    changed = False
    for value in values:
        if value and value not in _secrets:
            _secrets[value] = None
            changed = True
    while len(_secrets) > MAX_SECRETS:
        del _secrets[next(iter(_secrets))]
    if changed:
        _long = sorted((v for v in _secrets if len(v) >= SHORT), key=len, reverse=True)
        short = sorted((v for v in _secrets if len(v) < SHORT), key=len, reverse=True)
        _short_pattern = (
            re.compile("(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, short)) + ")(?![A-Za-z0-9])")
            if short
            else None
        )


def scrub(text: str) -> str:
    for secret in _long:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if _short_pattern is not None:
        text = _short_pattern.sub(REDACTED, text)
    return text


def _record_fields(record: logging.LogRecord) -> dict[str, object]:
    fields: dict[str, object] = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        + f".{int(record.msecs):03d}Z",
        "level": {"WARNING": "warn"}.get(record.levelname, record.levelname.lower()),
        "logger": record.name,
        "msg": scrub(record.getMessage()),
    }
    for key, value in getattr(record, "fields", {}).items():
        fields[key] = scrub(str(value))
    if record.exc_info and record.exc_info[1] is not None:
        fields["error"] = scrub(f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}")
    return fields


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = []
        for key, value in _record_fields(record).items():
            text = str(value)
            if not text or any(c in text for c in ' "=\\\n'):
                text = (
                    '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
                )
            parts.append(f"{key}={text}")
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_record_fields(record), default=str)


class RateLimitFilter(logging.Filter):
    """At most `burst` records per `window` seconds for each message of the asyncio and
    aiohttp loggers; the next one let through says how many were dropped.

    When the process runs out of file descriptors every accept fails, and each failure
    would otherwise write a line (100,000 lines in 30 s were seen).
    """

    LOGGERS = ("asyncio", "aiohttp")

    def __init__(self, burst: int = 5, window: float = 10.0) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self._seen: dict[tuple[str, str], tuple[float, int, int]] = {}  # start, passed, dropped

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.LOGGERS):
            return True
        key = (record.name, str(record.msg)[:200])
        now = time.monotonic()
        start, passed, dropped = self._seen.get(key, (now, 0, 0))
        if now - start >= self.window:
            start, passed = now, 0
        if passed >= self.burst:
            self._seen[key] = (start, passed, dropped + 1)
            return False
        if dropped:
            fields = dict(getattr(record, "fields", {}))
            fields["suppressed_similar"] = dropped
            record.fields = fields
        self._seen[key] = (start, passed + 1, 0)
        if len(self._seen) > 1000:  # messages with ever-changing text: forget the oldest
            self._seen.pop(next(iter(self._seen)))
        return True


def log_loop_exception(_loop: Any, context: dict[str, Any]) -> None:
    """asyncio's exception handler: one rate-limited line (see RateLimitFilter), no traceback."""
    error = context.get("exception")
    fields = {"error": f"{type(error).__name__}: {error}" if error else ""}
    logging.getLogger("asyncio").warning(str(context.get("message", "")), extra={"fields": fields})


def setup_logging(level: str = "info", fmt: str = "logfmt") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    handler.addFilter(RateLimitFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS[level])
    # aiohttp's access log line per scrape is noise at info level.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
