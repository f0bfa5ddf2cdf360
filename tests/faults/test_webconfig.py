"""The web config is checked whole at load, and basic auth cannot be turned against the
exporter: bcrypt off the event loop, a cache of successful checks, one bcrypt for unknown
users as for known ones."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import bcrypt
import pytest

from exporter.config import ConfigError
from exporter.webconfig import WebConfig, load_web_config
from harness.exporter import basic_auth_users, run_exporter
from tests.core.test_web import self_signed

HASH = bcrypt.hashpw(b"right", bcrypt.gensalt(rounds=4)).decode()


def refused(tmp_path: Path, text: str | bytes) -> str:
    path = tmp_path / "web.yml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_web_config(str(path))
    return str(err.value)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.mark.parametrize(
    ("users", "message"),
    [
        ("u: plaintext", "'u' must be a bcrypt hash"),
        # The prefix alone passed before; every request then answered 500.
        ("u: '$2b$12$short'", "'u' must be a bcrypt hash"),
        (f"u: '{HASH[:4]}03{HASH[6:]}'", "cost 3 is outside 4..16"),
        (f"u: '{HASH[:4]}31{HASH[6:]}'", "cost 31 is outside 4..16"),
        ("u: [1, 2]", "'u' must be a bcrypt hash: got list"),
        ("u: 12", "'u' must be a bcrypt hash: got int"),
    ],
)
def test_bad_hashes_are_refused_at_load(tmp_path: Path, users: str, message: str) -> None:
    assert message in refused(tmp_path, f"basic_auth_users:\n  {users}\n")


@pytest.mark.parametrize(
    ("tls", "message"),
    [
        ("{}", "tls_server_config: must be a mapping with cert_file and key_file"),
        ("", "tls_server_config: must be a mapping with cert_file and key_file"),
        (
            "{min_version: TLS13, max_version: TLS12, CERTS}",
            "min_version TLS13 is above max_version TLS12",
        ),
        (
            "{max_version: TLS14, CERTS}",
            "max_version must be one of TLS10, TLS11, TLS12, TLS13, got 'TLS14'",
        ),
        ("{max_version: '1.2', CERTS}", "got '1.2'"),
        ("{max_version: 1.2, CERTS}", "got 1.2"),
        ("{min_version: [TLS12], CERTS}", "got ['TLS12']"),
        # OpenSSL 3 offers TLS 1.0 only at security level 0: refused, not silently raised.
        ("{min_version: TLS10, CERTS}", "does not offer TLS before 1.2; use TLS12 or TLS13"),
        (
            "{cert_file: /nonexistent/cert.pem, key_file: KEY}",
            "cert_file: file /nonexistent/cert.pem does not exist",
        ),
        (
            "{cert_file: CERT, key_file: /nonexistent/key.pem}",
            "key_file: file /nonexistent/key.pem does not exist",
        ),
        ("{client_auth_type: Sometimes, CERTS}", "client_auth_type must be one of"),
        ("{client_auth_type: RequireAndVerifyClientCert, CERTS}", "needs client_ca_file"),
        ("{cert_file: KEY, key_file: CERT}", "cannot load cert_file"),
    ],
)
def test_tls_problems_are_refused_at_load(
    tmp_path: Path, pair: tuple[Path, Path], tls: str, message: str
) -> None:
    cert, key = pair
    tls = tls.replace("CERTS", f"cert_file: {cert}, key_file: {key}")
    tls = tls.replace("CERT", str(cert)).replace("KEY", str(key))
    assert message in refused(tmp_path, f"tls_server_config: {tls}\n")


def test_a_key_that_does_not_load_names_both_files(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    cert, _ = pair
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    message = refused(tmp_path, f"tls_server_config: {{cert_file: {cert}, key_file: {garbage}}}\n")
    assert f"cannot load cert_file {cert} with key_file {garbage}" in message


def test_every_problem_is_listed_in_one_run(tmp_path: Path) -> None:
    message = refused(
        tmp_path,
        "tls_server_config: {max_version: TLS9}\nbasic_auth_users: {a: x, b: y}\nextra: 1\n",
    )
    for part in ("cert_file is required", "key_file is required", "TLS9", "'a'", "'b'", "'extra'"):
        assert part in message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"basic_auth_users:\n  u: '\xff\xfe'\n", "not UTF-8 text"),
        ("basic_auth_users:\n  u: x\n  u: y\n", "duplicate key 'u'"),
        ("a: &a [1]\nbasic_auth_users: *a\n", "aliases (*name) are not supported"),
        ("[" * 100_000, "nested more than 32 levels deep"),
        ("- 1\n", "must be a mapping"),
    ],
)
def test_hostile_files_get_an_error_not_a_traceback(
    tmp_path: Path, text: str | bytes, message: str
) -> None:
    assert message in refused(tmp_path, text)


# Plain text, and (it passed before) a malformed hash behind bcrypt's prefix.
@pytest.mark.parametrize("stored", ["plaintext", "'$2b$12$notahash'"])
def test_check_config_refuses_what_is_not_a_bcrypt_hash(tmp_path: Path, stored: str) -> None:
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  prometheus: {stored}\n")
    run = run_exporter("--check-config", f"--web.config.file={web}")
    assert run.returncode == 1
    assert "basic_auth_users: 'prometheus' must be a bcrypt hash" in run.stderr
    assert "Traceback" not in run.stderr


def web_config(tmp_path: Path, rounds: int = 4) -> WebConfig:
    path = tmp_path / "web.yml"
    path.write_text(basic_auth_users("right", cost=rounds))
    return load_web_config(str(path))


async def test_bcrypt_runs_off_the_event_loop_and_successes_are_cached(tmp_path: Path) -> None:
    config = web_config(tmp_path, rounds=10)
    loop_threads: set[int] = set()
    real = config._bcrypt

    def spy(stored: bytes | None, password: bytes) -> bool:
        loop_threads.add(threading.get_ident())
        return real(stored, password)

    config._bcrypt = spy  # type: ignore[method-assign]
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    tick = asyncio.create_task(ticker())
    assert await config.check_async("prometheus", "right")
    assert not await config.check_async("prometheus", "wrong")
    assert not await config.check_async("nobody", "right")
    tick.cancel()
    assert threading.get_ident() not in loop_threads  # never on the loop's thread
    assert ticks > 3  # the loop kept running while bcrypt worked
    calls = len(loop_threads)
    before = len(config.cache._ok)
    assert await config.check_async("prometheus", "right")  # from the cache
    assert len(config.cache._ok) == before == 1
    assert len(loop_threads) == calls


def test_unknown_users_cost_one_bcrypt_like_known_users(tmp_path: Path) -> None:
    config = web_config(tmp_path, rounds=10)

    def timed(user: str) -> float:
        start = time.perf_counter()
        assert not config.check(user, "wrong")
        return time.perf_counter() - start

    known = min(timed("prometheus") for _ in range(3))
    unknown = min(timed("nobody") for _ in range(3))
    # One cost-10 bcrypt each (~50 ms); before, an unknown user answered in microseconds.
    assert unknown > known / 2


async def test_a_flood_beyond_the_queue_is_answered_busy(tmp_path: Path) -> None:
    from exporter import webconfig

    config = web_config(tmp_path, rounds=8)
    results = await asyncio.gather(
        *(
            config.check_async("prometheus", f"wrong{i}")
            for i in range(webconfig.MAX_PENDING_CHECKS + 20)
        ),
        return_exceptions=True,
    )
    busy = [r for r in results if isinstance(r, webconfig.AuthBusyError)]
    assert len(busy) == 20
    assert all(r is False for r in results if not isinstance(r, Exception))
