"""--web.config.file: TLS and basic auth in the format of Prometheus' exporter-toolkit.

Supported keys: tls_server_config (cert_file, key_file, client_ca_file, client_auth_type,
min_version, max_version) and basic_auth_users (user: bcrypt hash). Anything else is refused,
and everything is checked at load (and by --check-config): hash format and cost, TLS version
names and order, readable cert, key and CA files.

Basic auth cannot be turned against the exporter: bcrypt runs in one worker thread, never
on the event loop, with a bounded queue; a successful check is remembered (as a digest, as
exporter-toolkit does) so a scraper with the right password skips bcrypt while wrong
passwords queue; an unknown user costs one bcrypt like a known one, so timing does not tell
which user names exist.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import hashlib
import os
import re
import ssl
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import bcrypt
from aiohttp import web

from exporter.config import ConfigError
from exporter.yamlfile import read_yaml

TLS_KEYS = {
    "cert_file",
    "key_file",
    "client_ca_file",
    "client_auth_type",
    "min_version",
    "max_version",
}
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
# exporter-toolkit's names.
TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
BCRYPT_HASH = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
# Cost 4 is bcrypt's minimum; above 16 one check takes seconds and the exporter would be
# its own denial of service.
MIN_COST, MAX_COST = 4, 16
# Checks waiting for the bcrypt thread; beyond that a request is answered 503 at once.
MAX_PENDING_CHECKS = 16
CACHE_SIZE = 256

_bcrypt_executor: concurrent.futures.ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _bcrypt_thread() -> concurrent.futures.ThreadPoolExecutor:
    global _bcrypt_executor
    with _executor_lock:
        if _bcrypt_executor is None:
            # One thread: bcrypt floods use one core at most, never the event loop.
            _bcrypt_executor = concurrent.futures.ThreadPoolExecutor(1, "bcrypt")
        return _bcrypt_executor


class AuthBusyError(Exception):
    """Too many password checks are queued; the request is answered 503."""


@dataclass
class AuthCache:
    """Digests of (user, hash, password) that bcrypt accepted; bounded, oldest out first.

    Kept across reloads: the stored hash is part of the key, so a changed hash needs a
    new check while unchanged users keep their fast path.
    """

    size: int = CACHE_SIZE
    _ok: OrderedDict[bytes, None] = field(default_factory=OrderedDict)

    @staticmethod
    def key(user: str, hashed: bytes, password: bytes) -> bytes:
        return hashlib.sha256(b"\0".join((user.encode(), hashed, password))).digest()

    def hit(self, key: bytes) -> bool:
        if key in self._ok:
            self._ok.move_to_end(key)
            return True
        return False

    def add(self, key: bytes) -> None:
        self._ok[key] = None
        while len(self._ok) > self.size:
            self._ok.popitem(last=False)


@dataclass
class WebConfig:
    ssl_context: ssl.SSLContext | None = None
    users: dict[str, bytes] = field(default_factory=dict)
    source: str | None = None
    cache: AuthCache = field(default_factory=AuthCache)
    _pending: int = 0

    @property
    def _dummy_hash(self) -> bytes:
        # An unknown user is checked against the costliest configured hash: same work.
        return max(self.users.values(), key=lambda h: int(h[4:6]))

    def check(self, user: str, password: str) -> bool:
        """Blocking check (tests, --check-config); the server uses `check_async`."""
        stored = self.users.get(user)
        return self._bcrypt(stored, password.encode()) and stored is not None

    def _bcrypt(self, stored: bytes | None, password: bytes) -> bool:
        try:
            return bcrypt.checkpw(password, stored or self._dummy_hash)
        except ValueError:
            return False  # hashes are validated at load; belt and braces

    async def check_async(self, user: str, password: str) -> bool:
        stored = self.users.get(user)
        raw = password.encode()
        key = AuthCache.key(user, stored or b"", raw)
        if stored is not None and self.cache.hit(key):
            return True
        if self._pending >= MAX_PENDING_CHECKS:
            raise AuthBusyError
        self._pending += 1
        check = asyncio.ensure_future(self._check_and_remember(stored, raw, key))
        check.add_done_callback(self._done)
        # A client that gives up (scrape timeout under a flood) does not waste the check:
        # it completes and a success is cached for that client's next scrape.
        return await asyncio.shield(check)

    def _done(self, _: asyncio.Future[bool]) -> None:
        self._pending -= 1

    async def _check_and_remember(self, stored: bytes | None, raw: bytes, key: bytes) -> bool:
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(_bcrypt_thread(), self._bcrypt, stored, raw)
        if ok and stored is not None:
            self.cache.add(key)
            return True
        return False

    async def authorized(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if not sep:
            return False
        return await self.check_async(user, password)


def auth_middleware(
    current: Callable[[], WebConfig],
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Basic auth by whatever web config is current (it changes on reload)."""

    @web.middleware
    async def basic_auth(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        config = current()
        if config.users:
            try:
                ok = await config.authorized(request.headers.get("Authorization", ""))
            except AuthBusyError:
                raise web.HTTPServiceUnavailable(
                    text="Too many authentication attempts in progress\n",
                    headers={"Retry-After": "1"},
                ) from None
            if not ok:
                raise web.HTTPUnauthorized(
                    text="Unauthorized\n",
                    headers={"WWW-Authenticate": 'Basic realm="hypervisor-exporter"'},
                )
        return await handler(request)

    return basic_auth


def load_web_config(path: str) -> WebConfig:
    """The web config at `path`, checked completely; every problem in one ConfigError."""
    document = read_yaml(path, "web config")
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: must be a mapping (tls_server_config, basic_auth_users)")
    errors: list[str] = []
    for key in document:
        if key not in {"tls_server_config", "basic_auth_users"}:
            errors.append(
                f"{path}: unknown key {key!r} (allowed: tls_server_config, basic_auth_users)"
            )
    config = WebConfig(source=path)
    if "tls_server_config" in document:
        config.ssl_context = _ssl_context(path, document["tls_server_config"], errors)
    users = document.get("basic_auth_users")
    if users is not None and not isinstance(users, dict):
        errors.append(f"{path}: basic_auth_users must map user names to bcrypt hashes")
        users = {}
    for user, hashed in (users or {}).items():
        problem = _hash_problem(hashed)
        if not isinstance(user, str) or not user or ":" in user:
            errors.append(
                f"{path}: basic_auth_users: user name {user!r} must be a string without ':'"
            )
        elif problem:
            errors.append(f"{path}: basic_auth_users: {user!r} must be a bcrypt hash: {problem}")
        else:
            config.users[user] = hashed.encode()
    if errors:
        raise ConfigError("\n".join(errors))
    return config


def _hash_problem(hashed: Any) -> str | None:
    if not isinstance(hashed, str):
        return f"got {type(hashed).__name__}"
    match = BCRYPT_HASH.fullmatch(hashed)
    if not match:
        return "expected $2a$, $2b$ or $2y$, a two-digit cost and 53 characters of salt and hash"
    cost = int(match.group(1))
    if not MIN_COST <= cost <= MAX_COST:
        return f"cost {cost} is outside {MIN_COST}..{MAX_COST}"
    try:
        bcrypt.checkpw(b"", _cheap_twin(hashed))
    except ValueError as err:
        return f"bcrypt refuses it ({err})"
    return None


def _cheap_twin(hashed: str) -> bytes:
    """The same salt at cost 4: checks that bcrypt can read the hash without paying its cost."""
    return f"{hashed[:4]}04{hashed[6:]}".encode()


def _version(path: str, tls: dict[str, Any], key: str, errors: list[str]) -> ssl.TLSVersion | None:
    name = tls.get(key)
    if name is None:
        return None
    if not isinstance(name, str) or name not in TLS_VERSIONS:
        errors.append(
            f"{path}: tls_server_config: {key} must be one of {', '.join(TLS_VERSIONS)},"
            f" got {name!r}"
        )
        return None
    return TLS_VERSIONS[name]


def _readable(path: str, tls: dict[str, Any], key: str, errors: list[str]) -> str | None:
    value = tls.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        errors.append(f"{path}: tls_server_config: {key} must be a file path, got {value!r}")
        return None
    if not os.path.isfile(value):
        errors.append(f"{path}: tls_server_config: {key}: file {value} does not exist")
    elif not os.access(value, os.R_OK):
        errors.append(f"{path}: tls_server_config: {key}: file {value} is not readable")
    else:
        return value
    return None


def _ssl_context(path: str, tls: Any, errors: list[str]) -> ssl.SSLContext | None:
    where = f"{path}: tls_server_config"
    if not isinstance(tls, dict) or not tls:
        errors.append(
            f"{where}: must be a mapping with cert_file and key_file; remove the key to serve"
            " plain HTTP"
        )
        return None
    before = len(errors)
    for key in tls:
        if key not in TLS_KEYS:
            errors.append(f"{where}: unknown key {key!r} (allowed: {', '.join(sorted(TLS_KEYS))})")
    for key in ("cert_file", "key_file"):
        if not tls.get(key):
            errors.append(f"{where}: {key} is required")
    cert = _readable(path, tls, "cert_file", errors)
    key_file = _readable(path, tls, "key_file", errors)
    ca = _readable(path, tls, "client_ca_file", errors)
    low = _version(path, tls, "min_version", errors) or ssl.TLSVersion.TLSv1_2
    high = _version(path, tls, "max_version", errors)
    auth = tls.get("client_auth_type", "NoClientCert")
    if not isinstance(auth, str) or auth not in CLIENT_AUTH:
        errors.append(
            f"{where}: client_auth_type must be one of {', '.join(CLIENT_AUTH)}, got {auth!r}"
        )
    elif auth in {"RequireAndVerifyClientCert", "VerifyClientCertIfGiven"} and not tls.get(
        "client_ca_file"
    ):
        errors.append(f"{where}: client_auth_type {auth} needs client_ca_file")
    if high is not None and low > high:
        errors.append(
            f"{where}: min_version {tls.get('min_version', 'TLS12')} is above max_version"
            f" {tls['max_version']}"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if low < ssl.TLSVersion.TLSv1_2 and context.security_level > 0:
        # OpenSSL 3 only negotiates TLS 1.0 and 1.1 at security level 0; raising the
        # minimum silently would not be what was asked for, lowering security is not ours.
        errors.append(
            f"{where}: min_version {tls['min_version']}: this exporter's {ssl.OPENSSL_VERSION}"
            f" (security level {context.security_level}) does not offer TLS before 1.2;"
            " use TLS12 or TLS13"
        )
    if len(errors) > before or cert is None or key_file is None:
        return None
    context.minimum_version = low
    if high is not None:
        context.maximum_version = high
    try:
        context.load_cert_chain(cert, key_file)
    except (OSError, ssl.SSLError) as err:
        errors.append(f"{where}: cannot load cert_file {cert} with key_file {key_file}: {err}")
        return None
    context.verify_mode = CLIENT_AUTH[auth]
    if ca is not None:
        try:
            context.load_verify_locations(ca)
        except (OSError, ssl.SSLError) as err:
            errors.append(f"{where}: cannot load client_ca_file {ca}: {err}")
            return None
    return context


def swappable_context(
    initial: ssl.SSLContext,
) -> tuple[ssl.SSLContext, Callable[[ssl.SSLContext], None]]:
    """A server context whose certificate, key and client CA can be replaced on reload:
    each handshake switches to the latest context (the SNI callback runs for every
    ClientHello, with or without a server name)."""
    latest = [initial]

    def pick(
        sslobj: ssl.SSLObject | ssl.SSLSocket, _name: str | None, _ctx: ssl.SSLContext
    ) -> None:
        if latest[0] is not initial:
            sslobj.context = latest[0]

    initial.sni_callback = pick

    def replace(context: ssl.SSLContext) -> None:
        latest[0] = context

    return initial, replace
