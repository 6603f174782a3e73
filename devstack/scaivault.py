"""The ScaiVault stand-in: secrets by path (SPEC §5). All need `scaivault:secrets`, which only
ScaiVault tokens hold (`DEFAULT_VAULT_TOKEN`, or a key registered with that permission).

- `GET /v1/secrets/{path}` → 200 `{"path", "data", "version", "updated_at"}`; 404 = none
- `PUT /v1/secrets/{path}` `{"data": {...}}` → 200 `{"path", "version", "updated_at"}`
- `DELETE /v1/secrets/{path}` → 204; 404 when there was none
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devstack.auth import PERM_SCAIVAULT_SECRETS
from devstack.http import ApiError, Request, Response, Route, empty_response, json_response
from devstack.state import now_iso

if TYPE_CHECKING:
    from devstack.auth import Caller
    from devstack.server import Devstack


def _not_found(path: str) -> ApiError:
    return ApiError("not_found", f"no secret at {path!r}", status=404)


def get_secret(stack: Devstack, request: Request, caller: Caller, path: str) -> Response:
    with stack.state.lock:
        secret = stack.state.secrets.get(path)
        if secret is None:
            raise _not_found(path)
        return json_response(200, {"path": path, **secret})


def put_secret(stack: Devstack, request: Request, caller: Caller, path: str) -> Response:
    body = request.json()
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise ApiError("invalid_request", 'body must be {"data": {...}}')
    state = stack.state
    with state.lock:
        previous = state.secrets.get(path)
        secret = {
            "data": data,
            "version": previous["version"] + 1 if previous else 1,
            "updated_at": now_iso(),
        }
        state.secrets[path] = secret
        return json_response(
            200, {"path": path, "version": secret["version"], "updated_at": secret["updated_at"]}
        )


def delete_secret(stack: Devstack, request: Request, caller: Caller, path: str) -> Response:
    with stack.state.lock:
        if stack.state.secrets.pop(path, None) is None:
            raise _not_found(path)
        return empty_response(204)


ROUTES = [
    Route("GET", "/v1/secrets/{path}", get_secret, PERM_SCAIVAULT_SECRETS),
    Route("PUT", "/v1/secrets/{path}", put_secret, PERM_SCAIVAULT_SECRETS),
    Route("DELETE", "/v1/secrets/{path}", delete_secret, PERM_SCAIVAULT_SECRETS),
]
