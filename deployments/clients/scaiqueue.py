"""ScaiQueue's scopes and queues (SPEC §5), and the find-or-create of SPEC §4 step 4."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from deployments.clients.http import UpstreamError, call, json_object

SERVICE = "scaiqueue"
SCOPES = "/v1/scopes"
QUEUES = SCOPES + "/{scope}/queues"


class ProvisionError(Exception):
    """A scope or queue that is still missing after create, or contradicts the flow."""

    def __init__(self, message: str, *, scope: str, queue: str | None = None):
        self.message = message
        self.scope = scope
        self.queue = queue
        super().__init__(message)


@dataclass(frozen=True)
class ScaiQueueClient:
    base_url: str
    credential: str = field(repr=False)

    def _url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def _find(self, path: str, endpoint: str, slug: str) -> dict[str, Any] | None:
        response = call(
            SERVICE, "GET", self._url(path), endpoint=endpoint, credential=self.credential,
            params={"slug": slug}, expected=(200,),
        )  # fmt: skip
        items = json_object(SERVICE, response, "items")["items"]
        if not isinstance(items, list):
            raise UpstreamError(SERVICE, 200, "items is not a list", retryable=False)
        return next(
            (item for item in items if isinstance(item, dict) and item.get("slug") == slug), None
        )

    def _create(self, path: str, endpoint: str, spec: dict[str, Any]) -> bool:
        """True when created, False when it already existed (409)."""
        response = call(
            SERVICE, "POST", self._url(path), endpoint=endpoint, credential=self.credential,
            json_body=spec, expected=(200, 201, 409),
        )  # fmt: skip
        return response.status_code != 409

    def find_scope(self, slug: str) -> dict[str, Any] | None:
        """`GET /v1/scopes?slug={slug}` → the scope, or None."""
        return self._find(SCOPES, SCOPES, slug)

    def create_scope(self, spec: dict[str, Any]) -> bool:
        """`POST /v1/scopes` `{"slug", "name", "config"}`; 409 when the slug exists."""
        return self._create(SCOPES, SCOPES, spec)

    def find_queue(self, scope: str, slug: str) -> dict[str, Any] | None:
        """`GET /v1/scopes/{scope}/queues?slug={slug}` → the queue, or None."""
        return self._find(f"{SCOPES}/{quote(scope, safe='')}/queues", QUEUES, slug)

    def create_queue(self, scope: str, spec: dict[str, Any]) -> bool:
        """`POST /v1/scopes/{scope}/queues` `{"slug", "name", "config"}`; 409 on conflict."""
        return self._create(f"{SCOPES}/{quote(scope, safe='')}/queues", QUEUES, spec)

    def ensure_scope(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Find or create the scope: list; create if missing; on 409 list again; then check it
        agrees with the flow's declaration."""
        slug = spec["slug"]
        found = self.find_scope(slug)
        if found is None:
            self.create_scope(_body(spec))
            found = self.find_scope(slug)
        if found is None:
            raise ProvisionError(f"scope '{slug}' is still missing after create", scope=slug)
        _check_agrees(found, spec, scope=slug)
        return found

    def ensure_queue(self, scope: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Find or create a queue of `scope`, the same way as `ensure_scope`."""
        slug = spec["slug"]
        found = self.find_queue(scope, slug)
        if found is None:
            self.create_queue(scope, _body(spec))
            found = self.find_queue(scope, slug)
        if found is None:
            raise ProvisionError(
                f"queue '{slug}' is still missing after create", scope=scope, queue=slug
            )
        _check_agrees(found, spec, scope=scope, queue=slug)
        return found


def _body(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "slug": spec["slug"],
        "name": spec.get("name") or spec["slug"],
        "config": spec.get("config") or {},
    }


def _check_agrees(
    found: dict[str, Any], spec: dict[str, Any], *, scope: str, queue: str | None = None
) -> None:
    """Upstream must not contradict what the flow declares; undeclared keys are ignored."""
    what = f"queue '{queue}'" if queue else f"scope '{scope}'"
    if "name" in spec and found.get("name") != spec["name"]:
        raise ProvisionError(
            f"{what} exists with name {found.get('name')!r}, the flow declares {spec['name']!r}",
            scope=scope,
            queue=queue,
        )
    upstream_config = found.get("config") if isinstance(found.get("config"), dict) else {}
    for key, value in (spec.get("config") or {}).items():
        if upstream_config.get(key) != value:
            raise ProvisionError(
                f"{what} exists with config {key}={upstream_config.get(key)!r}, "
                f"the flow declares {value!r}",
                scope=scope,
                queue=queue,
            )
