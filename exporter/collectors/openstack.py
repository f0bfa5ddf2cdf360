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

import sys
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from exporter.collectors.openstack_samples import Answers, images_to_check

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
