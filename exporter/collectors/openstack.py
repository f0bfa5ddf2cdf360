"""OpenStack: instances, compute hosts and Neutron agents from Nova, Neutron and Glance.

openstacksdk's keystoneauth session (one per target, kept across collections, so the token
is reused until it expires) sends a handful of GETs per collection, in the target's lane:

- `GET /servers/detail?all_tenants=1&limit=1000`, following Nova's pages: every instance of
  every project with its vm_state, power_state, task_state, host and zone in one answer;
- `GET /os-services?binary=nova-compute` and `GET /os-hypervisors/detail` (pages too);
- `GET /v2.0/agents` where the catalog has a network service;
- `GET /v2/images?id=in:...` for the images of the instances that are not running only,
  up to 50 ids a request.

Answers go to the pure functions of exporter.collectors.openstack_samples as the APIs sent
them. Compute calls use microversion 2.53 where the cloud offers it (Pike and later):
hypervisors and services with their UUIDs, forced_down, and the hypervisors' resources,
which Nova stops reporting at 2.88.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar

from exporter.blocking import Lane
from exporter.collectors import Kind
from exporter.collectors.library import describe
from exporter.collectors.openstack_samples import Answers, collection_samples, images_to_check
from exporter.metrics import SampleSet
from exporter.targets import Problem, Secret, TargetConfig, check_readable_file

COMPUTE_MICROVERSION = "2.53"
PAGE = 1000  # Nova's default max_limit: one request per thousand instances
IMAGES_PER_REQUEST = 50  # ids in one Glance `id=in:` filter (bounded URL length)


def load_openstack() -> ModuleType:
    """Imports openstacksdk without osprofiler. keystoneauth imports osprofiler where it is
    installed, and on an OpenStack node that is the distribution's, which imports eventlet
    and the distribution's pyOpenSSL; with the exporter's own newer cryptography that
    import fails (Debian 12: `module 'lib' has no attribute 'GEN_EMAIL'`). The exporter
    never profiles requests, so it hides osprofiler from keystoneauth."""
    if "osprofiler" not in sys.modules:
        sys.modules["osprofiler"] = None  # type: ignore[assignment]  # import raises ImportError
    import openstack

    return openstack


def _json(response: Any, what: str) -> Mapping[str, Any]:
    """The decoded answer, or an error naming the request and the status."""
    if response.status_code >= 400:
        detail = response.text.strip()[:200]
        raise RuntimeError(f"{what}: HTTP {response.status_code} {detail}")
    body = response.json()
    if not isinstance(body, Mapping):
        raise RuntimeError(f"{what}: answer is not a JSON object")
    return body


def _pages(
    proxy: Any, path: str, key: str, params: dict[str, Any], microversion: str | None
) -> list[Mapping[str, Any]]:
    """Every object of a paged Nova list: asks `limit` at a time and follows with the last
    id as marker while Nova's answer has a next link."""
    items: list[Mapping[str, Any]] = []
    query = dict(params)
    while True:
        body = _json(proxy.get(path, params=query, microversion=microversion), f"GET {path}")
        page = body.get(key)
        if not isinstance(page, list):
            raise RuntimeError(f"GET {path}: answer has no list {key!r}")
        items.extend(page)
        links = body.get(f"{key}_links") or []
        if not page or not any(link.get("rel") == "next" for link in links):
            return items
        query["marker"] = page[-1]["id"]


def compute_microversion(conn: Any) -> str | None:
    """2.53 where the compute API offers it, else None (the API's base, 2.1)."""
    data = conn.compute.get_endpoint_data()
    highest = getattr(data, "max_microversion", None)
    if highest and tuple(highest) >= (2, 53):
        return COMPUTE_MICROVERSION
    return None


def read(conn: Any, microversion: str | None, region: str = "") -> Answers:
    """One collection's API answers. Blocking: runs in the target's lane."""
    compute = conn.compute
    servers = _pages(
        compute, "/servers/detail", "servers", {"all_tenants": 1, "limit": PAGE}, microversion
    )
    services = _json(
        compute.get("/os-services", params={"binary": "nova-compute"}, microversion=microversion),
        "GET /os-services",
    ).get("services", [])
    hypervisors = _pages(
        compute,
        "/os-hypervisors/detail",
        "hypervisors",
        {"limit": PAGE} if microversion else {},
        microversion,
    )
    agents = None
    if conn.has_service("network"):
        agents = _json(conn.network.get("/agents"), "GET /v2.0/agents").get("agents", [])
    images: dict[str, Mapping[str, Any]] = {}
    wanted = images_to_check(servers)
    for start in range(0, len(wanted), IMAGES_PER_REQUEST):
        chunk = wanted[start : start + IMAGES_PER_REQUEST]
        body = _json(
            conn.image.get("/images", params={"id": "in:" + ",".join(chunk), "limit": len(chunk)}),
            "GET /v2/images",
        )
        for image in body.get("images", []):
            images[str(image["id"])] = image
    return Answers(
        servers=servers,
        services=services,
        hypervisors=hypervisors,
        agents=agents,
        images=images,
        region=region,
    )


@dataclass(frozen=True, kw_only=True)
class OpenStackTarget(TargetConfig):
    """Either `cloud` (a clouds.yaml entry, from `clouds_file` or openstacksdk's usual
    places) or the password auth keys; the user needs the admin role (or a reader role
    across projects: the policy rules under docs/openstack.md)."""

    kind: ClassVar[str] = "openstack"
    cloud: str | None = None
    clouds_file: str | None = None
    auth_url: str | None = None
    username: str | None = None
    password: Secret | None = None
    project_name: str | None = None
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"
    region_name: str | None = None
    verify_tls: bool = True
    ca_file: str | None = None

    def validate(self, problem: Problem) -> None:
        super().validate(problem)
        direct = {
            "auth_url": self.auth_url,
            "username": self.username,
            "password": self.password,
            "project_name": self.project_name,
        }
        if self.cloud is not None:
            for key, value in direct.items():
                if value is not None:
                    problem(
                        key,
                        "give either cloud (a clouds.yaml entry) or auth_url and its"
                        " keys, not both",
                    )
            if self.clouds_file is not None:
                check_readable_file(self.clouds_file, "clouds_file", problem)
        else:
            if self.clouds_file is not None:
                problem("clouds_file", "only with cloud: the entry of the file to use")
            for key, value in direct.items():
                if value is None:
                    problem(key, "required unless cloud names a clouds.yaml entry")
            if self.auth_url is not None and not re.match(r"https?://[^/\s]+", self.auth_url):
                problem("auth_url", f"must be Keystone's http(s) URL, got {self.auth_url!r}")
        if self.ca_file is not None:
            check_readable_file(self.ca_file, "ca_file", problem)

    @property
    def where(self) -> str:
        """What error messages name: the cloud entry or the Keystone URL (never a secret)."""
        return f"cloud {self.cloud}" if self.cloud else str(self.auth_url)


class OpenStackCollector:
    def __init__(self, target: OpenStackTarget, lane: Lane) -> None:
        self.target = target
        self.lane = lane
        self.conn: Any = None
        self.microversion: str | None = None

    def _connect(self) -> Any:
        """An openstacksdk connection (authenticates lazily, on the first request)."""
        openstack = load_openstack()
        t = self.target
        # Only what the target sets, so a clouds.yaml entry keeps its own TLS settings.
        options: dict[str, Any] = {"api_timeout": t.timeout}
        if t.region_name is not None:
            options["region_name"] = t.region_name
        if not t.verify_tls:
            options["verify"] = False
        if t.ca_file is not None:
            options["cacert"] = t.ca_file
        if t.cloud is not None:
            config = openstack.config.OpenStackConfig(
                config_files=[t.clouds_file] if t.clouds_file else None, load_envvars=False
            )
            region = config.get_one(cloud=t.cloud, **options)
            return openstack.connection.Connection(config=region)
        assert t.password is not None
        region = openstack.config.get_cloud_region(
            load_yaml_config=False,
            load_envvars=False,
            auth_type="password",
            auth={
                "auth_url": t.auth_url,
                "username": t.username,
                "password": t.password.reveal(),
                "project_name": t.project_name,
                "user_domain_name": t.user_domain_name,
                "project_domain_name": t.project_domain_name,
            },
            **options,
        )
        return openstack.connection.Connection(config=region)

    def read(self) -> Answers:
        """Blocking: runs in the target's lane. A failed read drops the connection, so the
        next collection authenticates again (a rotated password, a restarted Keystone)."""
        try:
            if self.conn is None:
                self.conn = self._connect()
                self.microversion = compute_microversion(self.conn)
            region = getattr(self.conn.config, "region_name", None) or ""
            return read(self.conn, self.microversion, str(region))
        except Exception:
            conn, self.conn = self.conn, None
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
            raise

    async def collect(self) -> SampleSet:
        try:
            answers = await self.lane.run(self.read)
            return collection_samples(self.target.name, answers)
        except Exception as err:
            raise RuntimeError(f"openstack {self.target.where}: {describe(err)}") from err

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            await asyncio.wait_for(self.lane.run(conn.close), 5)


KIND = Kind(config=OpenStackTarget, create=OpenStackCollector)
