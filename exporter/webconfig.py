"""--web.config.file: TLS and basic auth in the format of Prometheus' exporter-toolkit.

Supported keys: tls_server_config (cert_file, key_file, client_ca_file, client_auth_type,
min_version, max_version) and basic_auth_users (user: bcrypt hash). Anything else is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import yaml
from aiohttp import web

from exporter.config import ConfigError

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
TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}


@dataclass
class WebConfig:
    ssl_context: ssl.SSLContext | None = None
    users: dict[str, bytes] = field(default_factory=dict)
    _verified: dict[str, bytes] = field(default_factory=dict)

    def check(self, user: str, password: str) -> bool:
        stored = self.users.get(user)
        if stored is None:
            return False
        # bcrypt is slow on purpose; remember a verified pair as a digest, not in clear.
        digest = hashlib.sha256(f"{user}\0{password}".encode()).digest()
        if hmac.compare_digest(self._verified.get(user, b""), digest):
            return True
        if bcrypt.checkpw(password.encode(), stored):
            self._verified[user] = digest
            return True
        return False

    def middleware(self) -> Callable[..., Awaitable[web.StreamResponse]]:
        @web.middleware
        async def basic_auth(
            request: web.Request,
            handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        ) -> web.StreamResponse:
            if self.users and not self._authorized(request.headers.get("Authorization", "")):
                raise web.HTTPUnauthorized(
                    text="Unauthorized\n",
                    headers={"WWW-Authenticate": 'Basic realm="hypervisor-exporter"'},
                )
            return await handler(request)

        return basic_auth

    def _authorized(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return self.check(user, password)


def load_web_config(path: str) -> WebConfig:
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise ConfigError(f"{path}: cannot read web config: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: must be a mapping")
    for key in document:
        if key not in {"tls_server_config", "basic_auth_users"}:
            raise ConfigError(f"{path}: unknown key {key!r}")
    config = WebConfig()
    tls = document.get("tls_server_config")
    if tls:
        config.ssl_context = _ssl_context(path, tls)
    users = document.get("basic_auth_users") or {}
    if not isinstance(users, dict):
        raise ConfigError(f"{path}: basic_auth_users must map user names to bcrypt hashes")
    for user, hashed in users.items():
        if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise ConfigError(f"{path}: basic_auth_users: {user!r} must be a bcrypt hash")
        config.users[str(user)] = hashed.encode()
    return config


def _ssl_context(path: str, tls: Any) -> ssl.SSLContext:
    if not isinstance(tls, dict):
        raise ConfigError(f"{path}: tls_server_config must be a mapping")
    for key in tls:
        if key not in TLS_KEYS:
            raise ConfigError(f"{path}: tls_server_config: unknown key {key!r}")
    for key in ("cert_file", "key_file"):
        if not tls.get(key):
            raise ConfigError(f"{path}: tls_server_config: {key} is required")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_VERSIONS.get(
        tls.get("min_version", "TLS12"), ssl.TLSVersion.TLSv1_2
    )
    if "max_version" in tls:
        context.maximum_version = TLS_VERSIONS[tls["max_version"]]
    try:
        context.load_cert_chain(tls["cert_file"], tls["key_file"])
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(
            f"{path}: tls_server_config: cannot load cert_file/key_file: {err}"
        ) from None
    auth = tls.get("client_auth_type", "NoClientCert")
    if auth not in CLIENT_AUTH:
        raise ConfigError(
            f"{path}: tls_server_config: client_auth_type {auth!r} is not one of"
            f" {', '.join(CLIENT_AUTH)}"
        )
    context.verify_mode = CLIENT_AUTH[auth]
    if tls.get("client_ca_file"):
        try:
            context.load_verify_locations(tls["client_ca_file"])
        except (OSError, ssl.SSLError) as err:
            raise ConfigError(
                f"{path}: tls_server_config: cannot load client_ca_file: {err}"
            ) from None
    elif auth in {"RequireAndVerifyClientCert", "VerifyClientCertIfGiven"}:
        raise ConfigError(f"{path}: tls_server_config: {auth} needs client_ca_file")
    return context
