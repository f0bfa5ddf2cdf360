"""The YAML config: targets to collect, validated completely before anything connects.

Every problem is reported with the file, the target and the key, and refused at start.
Secrets are resolved at load (a missing password file is a config error, not a scrape
error) but only ever held in `Secret`, whose repr never shows the value.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

DEFAULT_TIMEOUT = 10.0

EMBEDDED_DEFAULT = """\
# Embedded demo: libvirt's built-in test hypervisor, present on every machine with libvirt.
targets:
  - name: demo
    kind: libvirt
    uri: test:///default
"""


class ConfigError(Exception):
    """A config the exporter refuses; the message names the file, target and key."""


class Secret:
    """A credential read from the config, a file or the environment; never printed."""

    def __init__(self, origin: str, value: str, path: Path | None = None) -> None:
        self.origin = origin  # "password", "password_file PATH" or "password_env VAR"
        self._value = value
        self._path = path

    def reveal(self) -> str:
        """The current value; a password file is re-read so rotated secrets take effect."""
        if self._path is not None:
            # On OSError keep the value read at start; the login error will say more.
            with contextlib.suppress(OSError):
                self._value = _read_secret_file(self._path)
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.origin})"

    __str__ = __repr__


def _read_secret_file(path: Path) -> str:
    return path.read_text(encoding="utf-8").rstrip("\r\n")


# Seconds a recorded failed VM start stays exported (hypervisor_vm_start_failure_*).
DEFAULT_START_FAILURE_WINDOW = 24 * 3600.0


def _check_start_failure_window(window: float, problem: _Reporter) -> None:
    if not 0 < window <= 30 * 24 * 3600:
        problem(
            "start_failure_window",
            f"must be a number of seconds in (0, 2592000] (30 days), got {window}",
        )


@dataclass(frozen=True)
class TargetConfig:
    """Keys every target has. Subclasses add their kind's keys as fields."""

    kind: ClassVar[str] = ""
    name: str
    timeout: float = DEFAULT_TIMEOUT

    def validate(self, problem: _Reporter) -> None:
        if not self.name.strip():
            problem("name", "must not be empty")
        if not 0 < self.timeout <= 3600:
            problem("timeout", f"must be a number of seconds in (0, 3600], got {self.timeout}")


@dataclass(frozen=True)
class LibvirtTarget(TargetConfig):
    kind: ClassVar[str] = "libvirt"
    uri: str = ""
    start_failure_window: float = DEFAULT_START_FAILURE_WINDOW

    def validate(self, problem: _Reporter) -> None:
        super().validate(problem)
        _check_start_failure_window(self.start_failure_window, problem)
        if not re.match(r"^[a-z0-9+]+://", self.uri):
            problem("uri", f"must be a libvirt URI such as qemu:///system, got {self.uri!r}")


@dataclass(frozen=True)
class VsphereTarget(TargetConfig):
    kind: ClassVar[str] = "vsphere"
    host: str = ""
    username: str = ""
    password: Secret | None = None
    verify_tls: bool = True
    ca_file: str | None = None
    start_failure_window: float = DEFAULT_START_FAILURE_WINDOW

    def validate(self, problem: _Reporter) -> None:
        super().validate(problem)
        _check_start_failure_window(self.start_failure_window, problem)
        match = re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[^:\s/\[\]]+)(?::(\d{1,5}))?", self.host)
        if not match or (match.group(2) and not 0 < int(match.group(2)) < 65536):
            problem("host", f"must be host or host:port, got {self.host!r}")
        if not self.username:
            problem("username", "must not be empty")
        if self.password is None:
            problem("password_file", "one of password_file, password_env or password is required")
        if self.ca_file is not None:
            _check_readable_file(self.ca_file, "ca_file", problem)

    @property
    def address(self) -> tuple[str, int]:
        host, _, port = self.host.rpartition(":") if "]" not in self.host[-1:] else ("", "", "")
        if not host or not port.isdigit():
            return self.host.strip("[]"), 443
        return host.strip("[]"), int(port)


@dataclass(frozen=True)
class CephTarget(TargetConfig):
    kind: ClassVar[str] = "ceph"
    conf: str = "/etc/ceph/ceph.conf"
    user: str = "admin"
    keyring: str | None = None

    def validate(self, problem: _Reporter) -> None:
        super().validate(problem)
        _check_readable_file(self.conf, "conf", problem)
        if self.keyring is not None:
            _check_readable_file(self.keyring, "keyring", problem)
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.user):
            problem("user", f"must be a Ceph client name such as admin, got {self.user!r}")


@dataclass(frozen=True)
class IscsiTarget(TargetConfig):
    kind: ClassVar[str] = "iscsi"
    sysfs_root: str = "/sys"

    def validate(self, problem: _Reporter) -> None:
        super().validate(problem)
        if not Path(self.sysfs_root).is_dir():
            problem("sysfs_root", f"{self.sysfs_root} is not a directory")


TARGET_KINDS: dict[str, type[TargetConfig]] = {
    cls.kind: cls for cls in (VsphereTarget, LibvirtTarget, CephTarget, IscsiTarget)
}
SECRET_KEYS = ("password", "password_file", "password_env")


@dataclass(frozen=True)
class Config:
    targets: tuple[TargetConfig, ...]
    source: str = "<embedded default>"
    by_name: Mapping[str, TargetConfig] = field(default_factory=dict, compare=False)

    def secrets(self) -> list[Secret]:
        return [
            value
            for target in self.targets
            for value in vars(target).values()
            if isinstance(value, Secret)
        ]


class _Reporter(typing.Protocol):
    def __call__(self, key: str, message: str) -> None: ...


def _check_readable_file(path: str, key: str, problem: _Reporter) -> None:
    if not os.path.isfile(path):
        problem(key, f"file {path} does not exist")
    elif not os.access(path, os.R_OK):
        problem(key, f"file {path} is not readable")


def load_config(path: str | None) -> Config:
    """Loads and validates the config at `path`, or the embedded default when None."""
    if path is None:
        return parse_config(EMBEDDED_DEFAULT, "<embedded default>")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config file: {err.strerror}") from None
    return parse_config(text, path)


def parse_config(text: str, source: str) -> Config:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        raise ConfigError(f"{source}: not valid YAML{at}: {getattr(err, 'problem', err)}") from None
    errors: list[str] = []
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: must be a mapping with a 'targets' list")
    for key in document:
        if key != "targets":
            errors.append(f"{source}: unknown top-level key {key!r} (expected: targets)")
    raw_targets = document.get("targets")
    if not isinstance(raw_targets, list) or not raw_targets:
        errors.append(f"{source}: key 'targets': must be a non-empty list of targets")
        raw_targets = []
    targets: list[TargetConfig] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_targets):
        target = _parse_target(raw, index, source, errors)
        if target is None:
            continue
        if target.name in seen:
            errors.append(
                f"{source}: targets[{index}] ({target.name}): key 'name': duplicate of"
                f" targets[{seen[target.name]}]"
            )
            continue
        seen[target.name] = index
        targets.append(target)
    if errors:
        raise ConfigError("\n".join(errors))
    return Config(tuple(targets), source, {t.name: t for t in targets})


def _parse_target(raw: Any, index: int, source: str, errors: list[str]) -> TargetConfig | None:
    where = f"{source}: targets[{index}]"
    if not isinstance(raw, dict):
        errors.append(f"{where}: must be a mapping with name and kind")
        return None
    name = raw.get("name")
    if isinstance(name, str):
        where += f" ({name})"
    before = len(errors)

    def problem(key: str, message: str) -> None:
        errors.append(f"{where}: key {key!r}: {message}")

    if not isinstance(name, str):
        problem("name", "required, a string")
    kind = raw.get("kind")
    cls = TARGET_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        problem("kind", f"must be one of {', '.join(sorted(TARGET_KINDS))}, got {kind!r}")
        return None
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    allowed = set(fields) | {"kind"}
    if cls is VsphereTarget:
        allowed |= set(SECRET_KEYS)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in allowed:
            problem(key, f"unknown key for kind {kind} (allowed: {', '.join(sorted(allowed))})")
        elif key in SECRET_KEYS or key == "kind":
            continue
        else:
            converted = _convert(value, hints[key], key, problem)
            if converted is not _INVALID:
                values[key] = converted
    if cls is VsphereTarget:
        secret = _parse_secret(raw, problem)
        if secret is not None:
            values["password"] = secret
    for key, f in fields.items():
        # A field without a default, or with the empty string as its default, is required.
        required = f.default is dataclasses.MISSING or f.default == ""
        if key not in raw and required:
            problem(key, f"required for kind {kind}")
    if len(errors) > before:
        return None
    target = cls(**values)
    target.validate(problem)
    return None if len(errors) > before else target


_INVALID = object()


def _convert(value: Any, annotation: Any, key: str, problem: _Reporter) -> Any:
    """Checks a YAML value against a field's annotation (str, bool, float, or X | None)."""
    union = isinstance(annotation, types.UnionType)
    options = typing.get_args(annotation) if union else (annotation,)
    if value is None and type(None) in options:
        return None
    if str in options and isinstance(value, str):
        return value
    if bool in options and isinstance(value, bool):
        return value
    if float in options and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    names = " or ".join(
        {str: "a string", bool: "true or false", float: "a number"}.get(o, "null") for o in options
    )
    problem(key, f"must be {names}, got {value!r}")
    return _INVALID


def _parse_secret(raw: Mapping[str, Any], problem: _Reporter) -> Secret | None:
    given = [key for key in SECRET_KEYS if key in raw]
    if len(given) > 1:
        problem(given[1], f"give only one of {', '.join(given)}")
        return None
    if not given:
        return None
    key = given[0]
    value = raw[key]
    if not isinstance(value, str) or not value:
        problem(key, "must be a non-empty string")
        return None
    if key == "password":
        return Secret("password", value)
    if key == "password_env":
        if value not in os.environ:
            problem(key, f"environment variable {value} is not set")
            return None
        return Secret(f"password_env {value}", os.environ[value])
    path = Path(value)
    try:
        return Secret(f"password_file {value}", _read_secret_file(path), path)
    except OSError as err:
        problem(key, f"cannot read {value}: {err.strerror}")
        return None
