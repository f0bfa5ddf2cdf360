"""What every target's config has: the base class of the kinds' config classes and `Secret`.

A light module: the config classes that each collector module declares build on it, and
the config parser reads them, without importing any blocking library.
"""

from __future__ import annotations

import contextlib
import os
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from exporter.logs import register_secrets

DEFAULT_TIMEOUT = 10.0


class Problem(typing.Protocol):
    """Reports one problem with a key of the target being parsed."""

    def __call__(self, key: str, message: str) -> None: ...


class Secret:
    """A credential read from the config, a file or the environment; never printed.

    Every value it ever yields (a password file is re-read on each use, so rotated values
    take effect) is registered with the log scrubber before it is handed out.
    """

    def __init__(self, origin: str, value: str, path: Path | None = None) -> None:
        self.origin = origin  # "password", "password_file PATH" or "password_env VAR"
        self._value = value
        self._path = path
        register_secrets([value])

    def reveal(self) -> str:
        """The current value; a password file is re-read so rotated secrets take effect."""
        if self._path is not None:
            # On OSError (or a file mid-rewrite) keep the previous value; the login error
            # will say more.
            with contextlib.suppress(OSError, ValueError):
                value = read_secret_file(self._path)
                if value:
                    register_secrets([value])
                    self._value = value
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.origin})"

    __str__ = __repr__


def read_secret_file(path: Path) -> str:
    """The file without its final line break (at most 64 KiB). Raises OSError, or
    ValueError (UnicodeDecodeError) when it is not UTF-8 text."""
    with open(path, "rb") as file:
        data = file.read(64 * 1024)
    return data.decode("utf-8").rstrip("\r\n")


@dataclass(frozen=True, kw_only=True)
class TargetConfig:
    """Keys every target has. Each kind's subclass (frozen, kw_only) adds its keys as fields.

    How the parser reads a subclass's fields: a field without a default, or with the empty
    string as its default, is required; `str`, `bool`, `float` and `X | None` are checked
    against the YAML value; a `Secret` field `F` is given as one of the keys `F`, `F_file`
    or `F_env` (required when typed `Secret`, optional when `Secret | None`).
    """

    kind: ClassVar[str] = ""
    name: str
    timeout: float = DEFAULT_TIMEOUT

    def validate(self, problem: Problem) -> None:
        if not self.name.strip():
            problem("name", "must not be empty")
        if not 0 < self.timeout <= 3600:
            problem("timeout", f"must be a number of seconds in (0, 3600], got {self.timeout}")


_FIELD_TYPES: dict[type, dict[str, Any]] = {}


def field_types(cls: type) -> dict[str, Any]:
    """The resolved annotations of a config class, cached (typing.get_type_hints is slow:
    parsing 10,000 targets spent 25 s in it before this cache)."""
    if cls not in _FIELD_TYPES:
        _FIELD_TYPES[cls] = typing.get_type_hints(cls)
    return _FIELD_TYPES[cls]


def check_readable_file(path: str, key: str, problem: Problem) -> None:
    if not os.path.isfile(path):
        problem(key, f"file {path} does not exist")
    elif not os.access(path, os.R_OK):
        problem(key, f"file {path} is not readable")
