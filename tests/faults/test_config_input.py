"""Hostile and careless config files: every problem in one run, never a traceback, bounded
time and memory; secrets refused when empty and scrubbed whatever their length."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from exporter.config import ConfigError, load_config, parse_config
from exporter.logs import REDACTED, scrub
from exporter.targets import Secret
from harness.exporter import run_exporter

ALIAS_BOMB = (
    'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    + "".join(
        f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "targets:\n  - {name: x, kind: *i, timeout: *i}\n"
)


def refused(text: str | bytes) -> str:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.yaml")
    return str(err.value)


def test_every_problem_of_a_file_in_one_run() -> None:
    message = refused(
        "targets:\n"
        "  - {name: a, kind: libvirt, uri: nope, timeout: [1]}\n"
        "  - {name: b, kind: vsphere, host: 'bad host', verify_tls: maybe}\n"
        "  - {name: c, kind: ceph, conf: /nonexistent, user: 'bad user', timeout: -1}\n"
    )
    for part in (
        "targets[0] (a): key 'timeout': must be a number, got [1]",
        "targets[0] (a): key 'uri': must be a libvirt URI",
        "targets[1] (b): key 'verify_tls': must be true or false",
        "targets[1] (b): key 'username': required for kind vsphere",
        "targets[1] (b): key 'password_file': one of password_file",
        "targets[1] (b): key 'host': must be host or host:port",
        "targets[2] (c): key 'timeout': must be a number of seconds in (0, 3600]",
        "targets[2] (c): key 'conf': file /nonexistent does not exist",
        "targets[2] (c): key 'user': must be a Ceph client name",
    ):
        assert f"c.yaml: {part}" in message
    assert len(message.splitlines()) == 9


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("targets:\n  - {name: a, kind: libvirt, kind: ceph}\n", "duplicate key 'kind'"),
        (b"targets:\n  - {name: \xe9, kind: libvirt}\n", "not UTF-8 text (byte 0xe9 at line 2)"),
        ("[" * 100_000, "nested more than 32 levels deep"),
        (
            "targets:\n  - {name: a, kind: libvirt, uri: 'test:///default', timeout: 1"
            + "0" * 300
            + "}\n",
            "key 'timeout': must be a number of seconds in (0, 3600], got 1e+300",
        ),
        (
            "targets:\n  - {name: a, kind: libvirt, uri: 'test:///default', timeout: 1"
            + "0" * 400
            + "}\n",
            "must be a number Python can hold, got one of about 401 digits",
        ),
        (
            "targets:\n  - {name: a, kind: libvirt, uri: 'test:///default', timeout: 1"
            + "0" * 5000
            + "}\n",
            "not valid YAML",
        ),
        (
            "targets:\n  - {name: a, kind: libvirt, uri: [test, default]}\n",
            "key 'uri': must be a string, got ['test', 'default']",
        ),
        (
            "targets:\n  - {name: [a], kind: libvirt, uri: 'test:///default'}\n",
            "key 'name': required, a string",
        ),
    ],
)
def test_bad_input_is_an_error_naming_file_and_key(text: str | bytes, message: str) -> None:
    assert message in refused(text)


def test_an_alias_bomb_is_refused_at_once() -> None:
    started = time.monotonic()
    assert "aliases (*name) are not supported" in refused(ALIAS_BOMB)
    assert time.monotonic() - started < 1  # before: 67 s and 3 GB, then a MemoryError


def test_yaml_12_numbers() -> None:
    config = parse_config(
        "targets:\n  - {name: a, kind: libvirt, uri: 'test:///default', timeout: 1e3}\n", "c"
    )
    assert config.targets[0].timeout == 1000.0


def test_check_config_prints_errors_not_tracebacks(tmp_path: Path) -> None:
    for index, body in enumerate([ALIAS_BOMB.encode(), b"\xff\xfe targets", b"[" * 100_000]):
        path = tmp_path / f"c{index}.yaml"
        path.write_bytes(body)
        run = run_exporter("--check-config", f"--config.file={path}")
        assert run.returncode == 1
        assert "Traceback" not in run.stderr and f"{path}:" in run.stderr


def vsphere_with(key: str, value: str) -> str:
    return (
        "targets:\n  - {name: vc, kind: vsphere, host: vc.example, username: u, "
        f"{key}: '{value}'}}\n"
    )


def test_empty_secrets_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    latin = tmp_path / "latin"
    latin.write_bytes(b"caf\xe9\n")
    monkeypatch.setenv("EMPTY_PASSWORD", "")
    assert f"key 'password_file': {empty} is empty" in refused(
        vsphere_with("password_file", str(empty))
    )
    assert f"key 'password_file': {latin} is not UTF-8 text" in refused(
        vsphere_with("password_file", str(latin))
    )
    assert "environment variable EMPTY_PASSWORD is empty" in refused(
        vsphere_with("password_env", "EMPTY_PASSWORD")
    )
    assert "must be a non-empty string" in refused(vsphere_with("password", ""))


def test_every_value_a_rotated_password_file_yields_is_scrubbed(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text("first-password\n")
    config = load_config(str(write(tmp_path, vsphere_with("password_file", str(path)))))
    secret = config.secrets()[0]
    assert isinstance(secret, Secret)
    assert scrub("login first-password refused") == f"login {REDACTED} refused"
    for rotated in ("rotated-password-2", "q7"):  # whatever its length
        path.write_text(rotated + "\n")
        assert secret.reveal() == rotated
        assert rotated not in scrub(f"server said: bad login {rotated!r} for u")
    # A short secret goes where it stands alone, not inside words.
    assert scrub("password=q7; q7x, aq7") == f"password={REDACTED}; q7x, aq7"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path
