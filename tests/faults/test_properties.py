"""Property tests: for any input, the parsers give a clean error or a valid result, never
a traceback, and in bounded time and memory.

Config and web config files, the YAML reader under both, the iSCSI sysfs reader (any bytes
in any attribute file) and the vSphere wire reader (any XML answer)."""

from __future__ import annotations

import contextlib
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.config import Config, ConfigError, parse_config
from exporter.metrics import SampleSet
from exporter.webconfig import WebConfig, load_web_config
from exporter.yamlfile import parse_yaml

# Examples per test: the loaded profile's (tests/conftest.py: 300, `make unit` 30).
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# YAML-ish text: the characters that make YAML structure, plus anything.
yamlish = st.text(
    alphabet=st.sampled_from(list(":-[]{}&*!|>'\"#,?%@`\n \t") + list("abcdefgkntu019.e")),
    max_size=300,
) | st.text(max_size=200)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
KEYS = [
    "name",
    "kind",
    "uri",
    "timeout",
    "host",
    "username",
    "password",
    "password_env",
    "password_file",
    "verify_tls",
    "ca_file",
    "conf",
    "user",
    "keyring",
    "sysfs_root",
]
KINDS = ["libvirt", "vsphere", "ceph", "iscsi", "nope"]
targets = st.fixed_dictionaries(
    {"name": st.text(max_size=10), "kind": st.sampled_from(KINDS) | values},
    optional={key: values for key in KEYS if key not in ("name", "kind")},
)
config_documents = st.one_of(
    values,
    st.fixed_dictionaries({"targets": st.lists(targets, max_size=4) | values}),
)


def _parses_or_refuses(text: str) -> Config | None:
    try:
        return parse_config(text, "prop.yaml")
    except ConfigError as err:
        assert str(err).strip()
        assert "Traceback" not in str(err)
        return None


@SETTINGS
@given(yamlish)
def test_any_text_is_a_config_or_a_config_error(text: str) -> None:
    _parses_or_refuses(text)


@SETTINGS
@given(config_documents)
def test_any_document_is_a_config_or_errors_naming_the_file(document: object) -> None:
    try:
        text = yaml.safe_dump(document)
    except yaml.YAMLError:
        return
    config = _parses_or_refuses(text)
    if config is not None:
        assert config.targets and all(t.name for t in config.targets)


@SETTINGS
@given(st.binary(max_size=300))
def test_any_bytes_are_a_document_or_a_config_error(data: bytes) -> None:
    try:
        parse_yaml(data, "prop.yaml")
    except ConfigError as err:
        assert str(err).startswith("prop.yaml: ")


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


web_documents = st.one_of(
    values,
    st.fixed_dictionaries(
        {},
        optional={
            "tls_server_config": values
            | st.fixed_dictionaries(
                {},
                optional={
                    k: values | st.sampled_from(["TLS10", "TLS11", "TLS12", "TLS13", "1.2"])
                    for k in (
                        "cert_file",
                        "key_file",
                        "min_version",
                        "max_version",
                        "client_auth_type",
                        "client_ca_file",
                    )
                },
            ),
            "basic_auth_users": values
            | st.dictionaries(
                st.text(max_size=8),
                values | st.just("$2b$04$" + "a" * 53) | st.just("$2b$99$" + "a" * 53),
                max_size=3,
            ),
        },
    ),
)


@SETTINGS
@given(web_documents)
def test_any_web_config_is_valid_or_a_config_error(scratch: Path, document: object) -> None:
    path = scratch / "web.yml"
    try:
        path.write_text(yaml.safe_dump(document))
    except yaml.YAMLError:
        return
    try:
        config = load_web_config(str(path))
    except ConfigError as err:
        assert str(err).startswith(str(path))
        return
    assert isinstance(config, WebConfig)


@SETTINGS
@given(st.binary(max_size=200))
def test_any_web_config_bytes_are_valid_or_a_config_error(scratch: Path, data: bytes) -> None:
    path = scratch / "web-bytes.yml"
    path.write_bytes(data)
    with contextlib.suppress(ConfigError):
        load_web_config(str(path))


@pytest.fixture(scope="module")
def sysfs(scratch: Path) -> tuple[Path, list[Path]]:
    from harness.iscsi_sysfs import build_tree, standard_sessions

    root = build_tree(scratch / "sys", standard_sessions())
    files = sorted(p for p in (root / "devices").rglob("*") if p.is_file() and not p.is_symlink())
    return root, files


@SETTINGS
@given(data=st.data())
def test_any_sysfs_attribute_bytes_give_samples_or_a_sysfs_error(
    sysfs: tuple[Path, list[Path]], data: st.DataObject
) -> None:
    from exporter.collectors.iscsi import IscsiSysfsError, read_snapshot, snapshot_samples

    root, files = sysfs
    chosen = data.draw(st.lists(st.sampled_from(files), min_size=1, max_size=4, unique=True))
    originals = {path: path.read_bytes() for path in chosen}
    try:
        for path in chosen:
            path.write_bytes(
                data.draw(st.binary(max_size=64) | st.text(max_size=20).map(str.encode))
            )
        try:
            result = snapshot_samples("t", read_snapshot(str(root)))
        except IscsiSysfsError as err:
            assert str(err)
        else:
            assert isinstance(result, SampleSet)
    finally:
        for path, content in originals.items():
            path.write_bytes(content)


# Errors the vSphere wire readers may raise on a malformed answer: the collector turns them
# into the target's down reason. Anything else (AttributeError, TypeError, KeyError) would
# be a bug in the reader.
WIRE_ERRORS = (ET.ParseError, ValueError, OverflowError)


def _answers() -> list[bytes]:
    from tests.vsphere import test_xml

    return [
        value.encode() if isinstance(value, str) else value
        for name, value in vars(test_xml).items()
        if name.isupper() and name != "ENVELOPE" and isinstance(value, str | bytes)
    ]


@st.composite
def mangled_answers(draw: st.DrawFn) -> bytes:
    answer = draw(st.sampled_from(_answers()))
    for _ in range(draw(st.integers(1, 3))):
        start = draw(st.integers(0, len(answer)))
        end = draw(st.integers(start, min(len(answer), start + 40)))
        filler = draw(
            st.sampled_from([b"", b"<", b">", b"&amp;", b"-1", b"1e999", b"x" * 5, b"\xff"])
            | st.binary(max_size=12)
            | st.text(max_size=12).map(str.encode)
        )
        answer = answer[:start] + filler + answer[end:]
    return answer


@SETTINGS
@given(mangled_answers() | st.binary(max_size=200))
def test_any_vsphere_answer_gives_data_or_a_parse_error(data: bytes) -> None:
    from exporter.collectors.vsphere.wire import parse_perf, parse_retrieve_result, parse_update_set

    for reader in (
        parse_retrieve_result,
        lambda raw: parse_perf(raw, {1: "cpu.idle.summation", 2: "net.packetsRx.summation"}),
        parse_update_set,
    ):
        try:
            reader(data)
        except WIRE_ERRORS:
            pass
        except LookupError as err:  # ElementTree on an unknown declared encoding
            assert "unknown encoding" in str(err), repr(err)  # not a KeyError/IndexError
