"""ScaiVault: where tenants' ScaiGrid keys live when `SCAIVAULT_URL` is set (SPEC §5).

One typed function per endpoint, all through the seam, all with `SCAIVAULT_TOKEN`. A secret's
`data` is never put into an exception or a log line.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from deployments.clients.http import UpstreamError, call, json_object

SERVICE = "scaivault"
VAULT_PATH = "/v1/secrets/{path}"


def tenant_secret_path(*, tenant_slug: str) -> str:
    """Where a tenant's ScaiGrid key lives in ScaiVault."""
    return f"scaiflow/tenants/{tenant_slug}/scaigrid"


def _url(path: str) -> str:
    return f"{settings.SCAIVAULT_URL.rstrip('/')}/v1/secrets/{path}"


@sensitive_variables()
def secret_get(*, path: str) -> dict[str, Any] | None:
    """`GET /v1/secrets/{path}` → the secret's `data` object, or None when there is none (404)."""
    response = call(
        SERVICE,
        "GET",
        _url(path),
        endpoint=VAULT_PATH,
        credential=settings.SCAIVAULT_TOKEN,
        expected=(200, 404),
    )
    if response.status_code == 404:
        return None
    data = json_object(SERVICE, response, "data")["data"]
    if not isinstance(data, dict):
        raise UpstreamError(
            SERVICE, response.status_code, "secret data is not an object", retryable=False
        )
    return data


@sensitive_variables()
def secret_put(*, path: str, data: dict[str, Any]) -> None:
    """`PUT /v1/secrets/{path}` with `{"data": data}`: create or replace the secret."""
    call(
        SERVICE,
        "PUT",
        _url(path),
        endpoint=VAULT_PATH,
        credential=settings.SCAIVAULT_TOKEN,
        expected=(200, 201, 204),
        json_body={"data": data},
    )


def secret_delete(*, path: str) -> None:
    """`DELETE /v1/secrets/{path}`; a secret that is not there (404) is already deleted."""
    call(
        SERVICE,
        "DELETE",
        _url(path),
        endpoint=VAULT_PATH,
        credential=settings.SCAIVAULT_TOKEN,
        expected=(200, 202, 204, 404),
    )
