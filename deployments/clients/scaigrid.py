"""ScaiGrid's scaicore endpoints (SPEC §5), one method per remote endpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from deployments.clients.http import UpstreamError, call, json_object

SERVICE = "scaigrid"
CORES = "/v1/modules/scaicore/cores"
CORE = CORES + "/{core_id}"
PUBLISH = CORE + "/publish"
EVENTS = "/v1/modules/scaicore/events"


@dataclass(frozen=True)
class ScaiGridClient:
    base_url: str
    credential: str = field(repr=False)

    def _url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def _core_url(self, core_id: str, suffix: str = "") -> str:
        return self._url(f"{CORES}/{quote(core_id, safe='')}{suffix}")

    def create_core(self, *, manifest: str, idempotency_key: str) -> str:
        """`POST /v1/modules/scaicore/cores` (YAML body) → the new Core's id."""
        response = call(
            SERVICE,
            "POST",
            self._url(CORES),
            endpoint=CORES,
            credential=self.credential,
            data=manifest.encode(),
            headers={"Content-Type": "application/yaml", "Idempotency-Key": idempotency_key},
            expected=(200, 201),
        )
        return _core_id(response)

    def update_core(self, *, core_id: str, manifest: str) -> str | None:
        """`PUT /v1/modules/scaicore/cores/{core_id}` → the Core's id, or None when it is gone."""
        response = call(
            SERVICE,
            "PUT",
            self._core_url(core_id),
            endpoint=CORE,
            credential=self.credential,
            data=manifest.encode(),
            headers={"Content-Type": "application/yaml"},
            expected=(200, 201, 404),
        )
        if response.status_code == 404:
            return None
        return _core_id(response)

    def publish(self, *, core_id: str, group_ids: list[str]) -> str:
        """`POST /v1/modules/scaicore/cores/{core_id}/publish` → the published model's slug."""
        response = call(
            SERVICE,
            "POST",
            self._core_url(core_id, "/publish"),
            endpoint=PUBLISH,
            credential=self.credential,
            json_body={"group_ids": group_ids},
            expected=(200, 201),
        )
        slug = json_object(SERVICE, response, "slug")["slug"]
        if not isinstance(slug, str) or not slug:
            raise UpstreamError(
                SERVICE, response.status_code, "answer has no slug", retryable=False
            )
        return slug

    def unpublish(self, *, core_id: str) -> None:
        """`DELETE /v1/modules/scaicore/cores/{core_id}/publish`; 404 (not published) is fine."""
        call(
            SERVICE,
            "DELETE",
            self._core_url(core_id, "/publish"),
            endpoint=PUBLISH,
            credential=self.credential,
            expected=(200, 204, 404),
        )

    def ping(self) -> None:
        """One harmless authenticated call: the events of a Core that cannot exist.

        200 or 404 means the credential was accepted; anything else raises UpstreamError.
        """
        call(
            SERVICE,
            "GET",
            self._url(EVENTS),
            endpoint=EVENTS,
            credential=self.credential,
            params={"core_id": "__probe__"},
            expected=(200, 404),
        )

    def events(self, *, core_id: str, since: str | None = None) -> dict[str, Any]:
        """`GET /v1/modules/scaicore/events?core_id=…[&since=…]` → `{"events", "cursor"}`."""
        params = {"core_id": core_id}
        if since:
            params["since"] = since
        response = call(
            SERVICE,
            "GET",
            self._url(EVENTS),
            endpoint=EVENTS,
            credential=self.credential,
            params=params,
            expected=(200,),
        )
        body = json_object(SERVICE, response, "events")
        if not isinstance(body["events"], list):
            raise UpstreamError(SERVICE, 200, "events is not a list", retryable=False)
        return body


def _core_id(response) -> str:
    core_id = json_object(SERVICE, response, "id")["id"]
    if not isinstance(core_id, str) or not core_id:
        raise UpstreamError(SERVICE, response.status_code, "answer has no Core id", retryable=False)
    return core_id
