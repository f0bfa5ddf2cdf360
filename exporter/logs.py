"""Logging in logfmt or JSON, with every configured secret scrubbed from every record.

Collectors never log secrets on purpose; the scrubber is the second line of defence for
library messages that might echo a credential back (a URL with a password, a fault text).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
REDACTED = "<redacted>"

_secrets: set[str] = set()


def register_secrets(values: Iterable[str]) -> None:
    """Values that must never be printed; short ones are ignored to avoid mangling text."""
    _secrets.update(v for v in values if len(v) >= 4)


def scrub(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
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


def setup_logging(level: str = "info", fmt: str = "logfmt") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS[level])
    # aiohttp's access log line per scrape is noise at info level.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
