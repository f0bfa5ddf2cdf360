"""The YAML config: targets to collect, validated completely before anything connects.

Every problem is reported with the file, the target and the key, and refused at start.
The keys of each kind come from its config class (see exporter.collectors.Kind and
exporter.targets.TargetConfig). Secrets are resolved at load (a missing password file is a
config error, not a scrape error) but only ever held in `Secret`, whose repr never shows
the value.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporter.collectors import Kind, kinds
from exporter.targets import Problem, Secret, TargetConfig, field_types, read_secret_file
from exporter.yamlfile import ConfigError, parse_yaml, read_yaml

__all__ = ["Config", "ConfigError", "TargetConfig", "load_config", "parse_config"]

EMBEDDED_DEFAULT = """\
# Embedded demo: libvirt's built-in test hypervisor, present on every machine with libvirt.
targets:
  - name: demo
    kind: libvirt
    uri: test:///default
"""


@dataclass(frozen=True)
class Config:
    targets: tuple[TargetConfig, ...]
    source: str = "<embedded default>"

    def secrets(self) -> list[Secret]:
        return [
            value
            for target in self.targets
            for value in vars(target).values()
            if isinstance(value, Secret)
        ]


def load_config(path: str | None) -> Config:
    """Loads and validates the config at `path`, or the embedded default when None."""
    if path is None:
        return parse_config(EMBEDDED_DEFAULT, "<embedded default>")
    return _parse_document(read_yaml(path, "config file"), path)


def parse_config(text: str | bytes, source: str) -> Config:
    """The config in `text`; every problem of it in one ConfigError."""
    return _parse_document(parse_yaml(text, source), source)


def _parse_document(document: Any, source: str) -> Config:
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
    known = kinds()
    targets: list[TargetConfig] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_targets):
        target = _parse_target(raw, index, source, known, errors)
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
    return Config(tuple(targets), source)


def secret_keys(field: str) -> tuple[str, str, str]:
    """The keys that may give a `Secret` field: inline, from a file, from the environment."""
    return field, f"{field}_file", f"{field}_env"


def _parse_target(
    raw: Any, index: int, source: str, known: Mapping[str, Kind[Any]], errors: list[str]
) -> TargetConfig | None:
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
    kind_name = raw.get("kind")
    kind = known.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        problem("kind", f"must be one of {', '.join(sorted(known))}, got {kind_name!r}")
        return None
    cls = kind.config
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = field_types(cls)
    secrets = {key: field for field in kind.secrets for key in secret_keys(field)}
    allowed = set(fields) | set(secrets) | {"kind"}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in allowed:
            problem(
                key, f"unknown key for kind {kind_name} (allowed: {', '.join(sorted(allowed))})"
            )
        elif key not in secrets and key != "kind":
            converted = _convert(value, hints[key], key, problem)
            if converted is not _INVALID:
                values[key] = converted
    for field in kind.secrets:
        secret = _parse_secret(field, raw, problem)
        if secret is not None:
            values[field] = secret
    for key, f in fields.items():
        # A field without a default, or with the empty string as its default, is required.
        if f.default is not dataclasses.MISSING and f.default != "":
            continue
        if key in kind.secrets:
            inline, from_file, from_env = secret_keys(key)
            if not any(k in raw for k in (inline, from_file, from_env)):
                problem(from_file, f"one of {from_file}, {from_env} or {inline} is required")
        elif key not in raw:
            problem(key, f"required for kind {kind_name}")
    # Validate even when some keys are wrong, so one run lists every problem: wrong or
    # missing keys get a placeholder and their validation messages are left out (the key
    # already has its problem).
    reported = {line for line in errors[before:]}
    bad_keys = {key for key in fields if any(f"key {key!r}" in line for line in reported)}
    complete = len(errors) == before
    for key, f in fields.items():
        if key not in values and f.default is dataclasses.MISSING:
            values[key] = "" if hints[key] is str else None
    if not isinstance(values.get("name"), str):
        values["name"] = ""

    def later_problem(key: str, message: str) -> None:
        if key not in bad_keys:
            problem(key, message)

    try:
        target = cls(**values)
        target.validate(later_problem)
    except Exception:  # placeholders a validate() did not expect: the keys are reported
        if complete:
            raise
        return None
    return target if complete and len(errors) == before else None


_INVALID = object()


def _convert(value: Any, annotation: Any, key: str, problem: Problem) -> Any:
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
        try:
            return float(value)
        except OverflowError:
            digits = int(int(value).bit_length() * 0.30103) + 1
            problem(key, f"must be a number Python can hold, got one of about {digits} digits")
            return _INVALID
    names = " or ".join(
        {str: "a string", bool: "true or false", float: "a number"}.get(o, "null") for o in options
    )
    problem(key, f"must be {names}, got {value!r}")
    return _INVALID


def _parse_secret(field: str, raw: Mapping[str, Any], problem: Problem) -> Secret | None:
    given = [key for key in secret_keys(field) if key in raw]
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
    if key == field:
        return Secret(field, value)
    if key.endswith("_env"):
        if value not in os.environ:
            problem(key, f"environment variable {value} is not set")
            return None
        if not os.environ[value]:
            problem(key, f"environment variable {value} is empty")
            return None
        return Secret(f"{key} {value}", os.environ[value])
    path = Path(value)
    try:
        secret = read_secret_file(path)
    except OSError as err:
        problem(key, f"cannot read {value}: {err.strerror}")
        return None
    except ValueError:
        problem(key, f"{value} is not UTF-8 text")
        return None
    if not secret:
        problem(key, f"{value} is empty")
        return None
    return Secret(f"{key} {value}", secret, path)
