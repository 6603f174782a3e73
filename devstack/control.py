"""The control API under `/_devstack/`: state, faults, keys, key rotation, extra runs.

No credential needed (devstack listens on localhost and is development tooling only), never
faulted, and not in the call log.

- `GET /_devstack/state` → the snapshot (`State.snapshot()` plus `faults` and `scaikey`);
  `DELETE /_devstack/state` or `POST /_devstack/state/reset` → 204, everything forgotten
  (faults cleared and hanging connections let go; ScaiKey back to the key it started with).
- `GET /_devstack/faults` → `{"faults": [...]}`; `POST` a fault (see faults.py) → 201 the
  fault with its `id`; `DELETE` → 204, all cleared; `DELETE /_devstack/faults/{id}` → 204;
  `POST /_devstack/faults/{id}/release` → 200 the fault: its `slow` requests answer now.
- `GET /_devstack/keys` → `{"keys": [...]}`; `POST {"key"?, "permissions": [...],
  "tenant"?, "label"?}` → 201 the key (generated when not given); `DELETE
  /_devstack/keys/{key}` → 204.
- `POST /_devstack/scaikey/rotate {"retire_old"?: bool}` → 200 `{"kid", "kids"}`.
- `POST /_devstack/cores/{id}/runs` → 201 `{"run_id"}`: the Core runs once more.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from devstack.auth import ALL_PERMISSIONS, ApiKey
from devstack.http import ApiError, Request, Response, Route, empty_response, json_response
from devstack.scaigrid import emit_run

if TYPE_CHECKING:
    from devstack.auth import Caller
    from devstack.server import Devstack

PREFIX = "/_devstack"


def get_state(stack: Devstack, request: Request, caller: Caller | None) -> Response:
    return json_response(200, stack.snapshot())


def reset_state(stack: Devstack, request: Request, caller: Caller | None) -> Response:
    stack.reset()
    return empty_response(204)


def list_faults(stack: Devstack, request: Request, caller: Caller | None) -> Response:
    return json_response(200, {"faults": stack.faults.public()})


def add_fault(stack: Devstack, request: Request, caller: Caller | None) -> Response:
    return json_response(201, stack.faults.add(request.json()).public())


def clear_faults(stack: Devstack, request: Request, caller: Caller | None) -> Response:
    stack.faults.clear()
    return empty_response(204)


def release_fault(stack: Devstack, request: Request, caller: Caller | None, id: str) -> Response:
    fault = stack.faults.release(id)
    if fault is None:
        raise ApiError("not_found", f"no fault {id!r}", status=404)
    return json_response(200, fault.public())


def remove_fault(stack: Devstack, request: Request, caller: Caller | None, id: str) -> Response:
    if not stack.faults.remove(id):
        raise ApiError("not_found", f"no fault {id!r}", status=404)
    return empty_response(204)


def list_keys(stack: Devstack, request: Request, caller: Caller | None) -> Response:
    with stack.state.lock:
        return json_response(200, {"keys": [key.public() for key in stack.state.api_keys.values()]})


def api_key_from(spec: object) -> ApiKey:
    """An `ApiKey` from the control API's JSON; raises a 400 `ApiError` naming the problems."""
    if not isinstance(spec, dict):
        raise ApiError("invalid_request", "a key is a JSON object")
    key = spec.get("key") or f"sgk_{secrets.token_hex(16)}"
    permissions = spec.get("permissions", [])
    tenant = spec.get("tenant")
    label = spec.get("label", "")
    problems = []
    if not isinstance(key, str) or key.count(".") == 2 or " " in key:
        problems.append("key must be a string without spaces that does not look like a JWT")
    if not isinstance(permissions, list) or not all(
        isinstance(p, str) and p in ALL_PERMISSIONS for p in permissions
    ):
        problems.append(f"permissions must be a list drawn from {sorted(ALL_PERMISSIONS)}")
    if tenant is not None and not isinstance(tenant, str):
        problems.append("tenant must be a string or null")
    if not isinstance(label, str):
        problems.append("label must be a string")
    if problems:
        raise ApiError("invalid_request", "; ".join(problems))
    return ApiKey(key, frozenset(permissions), tenant, label)


def add_key(stack: Devstack, request: Request, caller: Caller | None) -> Response:
    key = api_key_from(request.json())
    with stack.state.lock:
        stack.state.api_keys[key.key] = key
    return json_response(201, key.public())


def remove_key(stack: Devstack, request: Request, caller: Caller | None, key: str) -> Response:
    with stack.state.lock:
        if stack.state.api_keys.pop(key, None) is None:
            raise ApiError("not_found", "no such key", status=404)
    return empty_response(204)


def rotate_signing_key(stack: Devstack, request: Request, caller: Caller | None) -> Response:
    body = request.json() if request.body else {}
    retire_old = body.get("retire_old", False) if isinstance(body, dict) else None
    if not isinstance(retire_old, bool):
        raise ApiError("invalid_request", 'body must be {"retire_old": bool} or empty')
    key = stack.signing.rotate(retire_old=retire_old)
    kids = [jwk["kid"] for jwk in stack.signing.jwks()["keys"]]
    return json_response(200, {"kid": key.kid, "kids": kids})


def run_core(stack: Devstack, request: Request, caller: Caller | None, id: str) -> Response:
    with stack.state.lock:
        core = stack.state.cores.get(id)
        if core is None:
            raise ApiError("not_found", f"core {id!r} not found", status=404)
        return json_response(201, {"run_id": emit_run(stack.state, core)})


ROUTES = [
    Route("GET", f"{PREFIX}/state", get_state),
    Route("DELETE", f"{PREFIX}/state", reset_state),
    Route("POST", f"{PREFIX}/state/reset", reset_state),
    Route("GET", f"{PREFIX}/faults", list_faults),
    Route("POST", f"{PREFIX}/faults", add_fault),
    Route("DELETE", f"{PREFIX}/faults", clear_faults),
    Route("DELETE", f"{PREFIX}/faults/{{id}}", remove_fault),
    Route("POST", f"{PREFIX}/faults/{{id}}/release", release_fault),
    Route("GET", f"{PREFIX}/keys", list_keys),
    Route("POST", f"{PREFIX}/keys", add_key),
    Route("DELETE", f"{PREFIX}/keys/{{key}}", remove_key),
    Route("POST", f"{PREFIX}/scaikey/rotate", rotate_signing_key),
    Route("POST", f"{PREFIX}/cores/{{id}}/runs", run_core),
]
