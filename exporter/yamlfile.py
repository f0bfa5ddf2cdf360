"""Reading the exporter's YAML files (config, web config) as hostile input.

Every way a file can be wrong ends in a `ConfigError` naming the file and, where YAML can
tell, the line: bytes that are not UTF-8, duplicate keys (refused instead of silently
keeping the last), aliases (refused: an alias bomb expands a few hundred bytes into
gigabytes), nesting deeper than any config needs, numbers Python cannot hold. Numbers are
read as YAML 1.2 reads them, so `timeout: 1e3` is the number 1000 and not a string.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml


class ConfigError(Exception):
    """A config the exporter refuses; the message names the file, target and key."""


# A config with thousands of targets is a few hundred KiB; anything far larger is a mistake.
MAX_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 32

# YAML 1.2 core schema floats: PyYAML (YAML 1.1) wants a dot, so 1e3 would be a string.
_FLOAT_12 = re.compile(
    r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _Loader(yaml.SafeLoader):
    """SafeLoader without aliases and duplicate keys, with a nesting bound."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None,
                None,
                "aliases (*name) are not supported in this file",
                event.start_mark,
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise yaml.constructor.ConstructorError(
                    None, None, "merge keys (<<) are not supported", key_node.start_mark
                )
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain value", key_node.start_mark
                ) from None
            if key in seen:
                first = seen[key].start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first given at line {first})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))


def parse_yaml(data: bytes | str, source: str) -> Any:
    """The document in `data`, or a ConfigError naming `source` and the line."""
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            raise ConfigError(f"{source}: larger than {MAX_BYTES // 2**20} MiB")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            line = data[: err.start].count(b"\n") + 1
            raise ConfigError(
                f"{source}: not UTF-8 text (byte 0x{data[err.start]:02x} at line {line})"
            ) from None
    else:
        text = data
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{source}: not valid YAML{at}: {err.problem}") from None
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError, MemoryError) as err:
        # int() refuses numbers of more than 4300 digits; say so instead of a traceback.
        raise ConfigError(f"{source}: not valid YAML: {type(err).__name__}: {err}") from None


def read_yaml(path: str, what: str) -> Any:
    """The document of the file at `path`; `what` names it in errors ("config file")."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_BYTES + 1)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read {what}: {err.strerror}") from None
    return parse_yaml(data, path)


def read_text_file(path: Path, what: str) -> str:
    """A small text file (a password), UTF-8 checked, without its final line break."""
    data = path.read_bytes()[: 64 * 1024]
    try:
        return data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ValueError(f"{what} {path} is not UTF-8 text") from None
